#!/usr/bin/env bash
# bench/run.sh: agentrelay's figures next to Postfix's, measured in one run on this machine.
#
#   Issue 2  send_email over HTTP (POST /v1/messages), durable (group commit, fsync): sends/s,
#            p50/p99 at 1, 16 and 64 clients (wrk, keep-alive connections; 16 clients: the
#            median of RUNS runs), while the delivery engine relays every message to Postfix's
#            smtp-sink (bench.test is routed there: --route bench.test=127.0.0.1:PORT), or
#            right after the load when intake first holds it (README).
#            Yardstick: Postfix smtpd acceptance (smtp-source, 20 sessions, into a private
#            Postfix; the median of RUNS runs of ACCEPT_N, as ../shared's anchor measures it).
#   Issue 3  DKIM-signed delivery (ed25519-sha256 + rsa-sha256): N messages queued first, then
#            the rate at which the engine gets them accepted by smtp-sink; Postfix + OpenDKIM
#            relaying N to smtp-sink; the machine's dual-signing limit from `openssl speed`.
#            Then 1000 conversations at once with a sink answering each command after ~1 s
#            (bench/slow_sink.py): peak sessions the sink saw, peak RSS (VmHWM) of agentrelay.
#   Issue 17 send_email at 16 and 64 clients (wrk) while IDLE_N idle keep-alive connections and
#            WAIT_N wait_for_message long-polls stay open (bench/idle_clients.py); peak RSS and
#            threads; against Postfix's acceptance measured right after.
#   Issue 4  SMTP submission from a trusted loopback address (no TLS, no AUTH) with smtp-source,
#            20 sessions (the median of RUNS runs), versus Postfix smtpd acceptance measured
#            again right after them (the host's speed drifts within a run).
#
# Usage (as root: apt-get, a private Postfix):  bench/run.sh
# Env: N=10000 (issue 3 queue and Postfix DKIM runs)  ACCEPT_N=10000 (Postfix acceptance, issue 4)
#      RUNS=3 (timed runs whose median is taken)  WARMUP=200 (untimed, before issue 4's runs and
#      in each Postfix yardstick)  SECS=10 (per HTTP run)  SLOW_N=1000
#      SLOW_DELAY=1.0  JOBS=1 (build)
#      BENCH_DIR=/var/tmp/agentrelay-bench (wiped on each run)  ONLY="2 3 3slow 4 17" (the parts to run)
#      IDLE_N=1000 WAIT_N=500 (issue 17: idle keep-alive connections and long-polls beside the load)
# Loopback only. Every process started here is stopped by its PID at exit.
set -uo pipefail

N=${N:-10000}
ACCEPT_N=${ACCEPT_N:-10000}
SECS=${SECS:-10}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-200}
SLOW_N=${SLOW_N:-1000}
SLOW_DELAY=${SLOW_DELAY:-1.0}
JOBS=${JOBS:-1}
ONLY=${ONLY:-"2 3 3slow 4 17"}
IDLE_N=${IDLE_N:-1000}
WAIT_N=${WAIT_N:-500}
SESS=20
LEN=2048
WORK=${BENCH_DIR:-/var/tmp/agentrelay-bench}
HTTP_PORT=18025 SINK_PORT=18026 SLOW_PORT=18027 HOLD_PORT=18028 SUB_PORT=18587
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
AR=$BUILD/agentrelay
SEND_LOAD=$BUILD/bench/send_load
PY=/usr/bin/python3

die() { echo "run.sh: ERROR: $*" >&2; exit 1; }
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
note() { echo "run.sh: $*" >&2; }
[[ $(id -u) == 0 ]] || die "run as root (it installs packages and runs a private Postfix)"

# ---------------------------------------------------------------- packages and build
need=()
for p in postfix opendkim opendkim-tools python3-aiosmtpd python3-dkim procps iproute2 openssl wrk hey \
         cmake g++ pkg-config libssl-dev libsqlite3-dev nlohmann-json3-dev libspdlog-dev \
         libasio-dev libboost1.81-dev libc-ares-dev libcpp-httplib-dev libpsl-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  note "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; } ||
    die "apt-get install ${need[*]} failed"
fi
note "building (Release, -j$JOBS)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
cmake --build "$BUILD" --target agentrelay send_load -j"$JOBS" >/dev/null || die "build failed"
grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" || die "$BUILD is not a Release build"

# 1000 outbound connections plus stores: more than the default 1024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
(( $(ulimit -n) >= 4096 )) || die "the descriptor limit $(ulimit -n) is too low for $SLOW_N conversations"

# ---------------------------------------------------------------- processes (stopped by PID)
PIDS=()
stop_pid() {  # TERM, up to 5 s, then KILL
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; PIDS=(); }
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in $HTTP_PORT $SINK_PORT $SLOW_PORT $HOLD_PORT $SUB_PORT; do listening "$p" && die "port $p is busy"; done

if [[ -e $WORK ]]; then
  [[ -e $WORK/.agentrelay-bench ]] || die "$WORK exists and was not made by run.sh; refusing to wipe it"
  rm -rf "$WORK"
fi
mkdir -p "$WORK/sink"
touch "$WORK/.agentrelay-bench"
chown nobody "$WORK/sink"

now() { echo "$EPOCHREALTIME"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }  # the machine is shared: say how busy it was
calc() { awk "BEGIN { printf \"$1\", $2 }"; }   # calc FORMAT EXPR

# smtp-sink (Postfix's fast sink) on SINK_PORT; counts with -c into $SINK_OUT.
SINK_PID="" SINK_OUT=""
start_sink() {
  SINK_OUT=$WORK/$1
  (cd "$WORK/sink" && exec /usr/sbin/smtp-sink -u nobody -c 127.0.0.1:$SINK_PORT 5000) >"$SINK_OUT" 2>&1 &
  SINK_PID=$!; PIDS+=("$SINK_PID")
  wait_listen $SINK_PORT
}
stop_sink() { stop_pid "$SINK_PID"; SINK_PID=""; }
sink_count() {  # smtp-sink rewrites one status line with CRs: the last mesg=N is the count
  local s; s=$(tail -c 200 "$SINK_OUT" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1)
  echo "${s#mesg=}" | grep . || echo 0
}
wait_sink() {  # wait_sink COUNT TIMEOUT_S -> 0 when reached; sets T_REACHED (bench/wait_sink.py polls)
  T_REACHED=$($PY "$ROOT/bench/wait_sink.py" "$SINK_OUT" "$1" "$2" 2>/dev/null)
}

# A slow sink (bench/slow_sink.py) on PORT: every reply after DELAY s.
start_slow() {  # start_slow PORT DELAY STATUSFILE [--dump FILE]
  local port=$1 delay=$2 status=$3; shift 3
  $PY "$ROOT/bench/slow_sink.py" --listen 127.0.0.1:"$port" --delay "$delay" --status "$status" "$@" \
    >"$status.log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  wait_listen "$port"
}
slow_field() { grep -o "$2=[0-9]*" "$1" 2>/dev/null | cut -d= -f2 || echo 0; }

# A fresh data dir with one agent "sender"; sets KEY. The init output (DNS records) is kept.
new_data() {  # new_data DIR (made afresh)
  rm -rf "$1"
  "$AR" init --data "$1" --domain relay.bench.test >"$1.init" 2>&1 || { cat "$1.init" >&2; die "init failed"; }
  KEY=$("$AR" agent create sender --data "$1" 2>/dev/null | sed -n 's/.*"api_key" *: *"\([^"]*\)".*/\1/p')
  [[ -n $KEY ]] || die "agent create failed"
}
# serve DIR LOGNAME ARGS... ; sets SERVE_PID
serve() {
  local dir=$1 log=$2; shift 2
  "$AR" serve --data "$dir" "$@" >"$WORK/$log" 2>&1 &
  SERVE_PID=$!; PIDS+=("$SERVE_PID")
}
stop_serve() { stop_pid "$SERVE_PID"; SERVE_PID=""; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

config() {  # config FILE MAX_CONNECTIONS
  cat >"$1" <<EOF
{"destination_defaults": {"max_connections": $2, "messages_per_second": 0, "tls": "opportunistic"}}
EOF
}

# settle: writes the page cache's dirty data out before a timed phase, so no phase pays for
# the disk writes of the one before it (issue 2 leaves ~1 GB behind) and all start alike.
settle() { sync; }

postfix_run() {  # postfix_run N on|off -> the baseline's line
  local out
  settle
  out=$(PF_DIR=$WORK/postfix SESS=$SESS LEN=$LEN RUNS=$RUNS WARMUP=$WARMUP "$ROOT/bench/postfix_baseline.sh" "$1" "$2") ||
    die "postfix_baseline.sh $1 $2 failed"
  echo "$out"
}
field_rate() {  # field_rate LINE WORD -> the msg/s after "WORD ... in X s (Y msg/s)"
  sed -n "s/.*$2 [0-9]* *in [0-9.]* s (\([0-9.]*\) msg\/s).*/\1/p; s/.*$2 in [0-9.]* s (\([0-9.]*\) msg\/s).*/\1/p" <<<"$1" | head -1
}
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b ? "MET" : "MISSED") }'; }

# load_median LOADER CLIENTS RUNS: RUNS runs of LOADER (http_load or hey_load) at CLIENTS,
# each printed; like the Postfix yardstick's runs, the next starts once everything sent so far
# has been delivered (during the load or, under intake first, after it; the queue is empty at
# each start). Sets MED_RATE and MED_P99 (the medians) and adds the sends to total_sent.
load_median() {
  local loader=$1 c=$2 runs=$3 r line rates=() p99s=()
  for r in $(seq "$runs"); do
    line=$("$loader" "$c" "$SECS") || { echo "$line"; die "$loader at $c clients had errors"; }
    echo "$line"
    rates+=("$(sed -n 's/.*= \([0-9.]*\) sends\/s.*/\1/p' <<<"$line")")
    p99s+=("$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$line")")
    total_sent=$(( total_sent + $(sed -n 's/.*: \([0-9]*\) sends in.*/\1/p' <<<"$line") ))
    wait_sink "$total_sent" 300 || die "only $(sink_count)/$total_sent reached smtp-sink within 300 s"
    settle
  done
  MED_RATE=$(median "${rates[@]}"); MED_P99=$(median "${p99s[@]}")
  ((runs > 1)) && echo "median of $runs runs at $c clients ($loader): $MED_RATE sends/s, p99 $MED_P99 ms"
  return 0
}

# write_send_lua: wrk's request, for the agent whose key is $KEY.
write_send_lua() {
  cat >"$WORK/send.lua" <<EOF
-- POST /v1/messages: the same 1500-character text message every time (wrk's request)
wrk.method = "POST"
wrk.body = '{"to":"sink@bench.test","subject":"bench","text":"' .. string.rep("x", 1500) .. '"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
EOF
}

# http_load CLIENTS SECONDS: wrk (an event-loop load generator: it takes little of the CPU the
# relay is measured on) keeps CLIENTS connections busy with $WORK/send.lua's POST for SECONDS.
# Prints "wrk: concurrency C: N sends in S s = R sends/s; p50 A ms, p99 B ms; errors E";
# fails on any error (a non-2xx answer, a socket error).
http_load() {
  local c=$1 secs=$2 out threads=$(( $1 < 2 ? $1 : 2 ))
  out=$(wrk -t"$threads" -c"$c" -d"${secs}s" --latency -s "$WORK/send.lua" "http://127.0.0.1:$HTTP_PORT/v1/messages" 2>&1) ||
    { echo "wrk failed: $out"; return 1; }
  awk -v c="$c" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /requests in/ { n = $1; t = $4; sub(/s,?$/, "", t) }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { errors += $NF }
    /Socket errors/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) errors += $i + 0 }
    END {
      printf "wrk: concurrency %d: %d sends in %.2f s = %.1f sends/s; p50 %.2f ms, p99 %.2f ms; errors %d\n",
             c, n, t, n / t, p50, p99, errors
      exit (errors > 0 || n == 0)
    }' <<<"$out"
}

# hey_load CLIENTS SECONDS: hey (Go's net/http client, keep-alive) POSTs $WORK/send.json with
# Accept-Encoding: gzip from CLIENTS workers for SECONDS. Prints a line like http_load's; fails
# on any answer but 202 and on any error.
hey_load() {
  local c=$1 secs=$2 out
  out=$(hey -z "${secs}s" -c "$c" -m POST -T application/json -H "Accept-Encoding: gzip" \
            -H "Authorization: Bearer $KEY" -D "$WORK/send.json" "http://127.0.0.1:$HTTP_PORT/v1/messages" 2>&1) ||
    { echo "hey failed: $out"; return 1; }
  awk -v c="$c" -v secs="$secs" '
    function ms(v) { return v * 1000 }
    /Total:/ { t = $2 }
    /Requests\/sec:/ { rate = $2 }
    $1 == "50%" { p50 = ms($3) }
    $1 == "99%" { p99 = ms($3) }
    /Status code distribution/ { sec = "status" }
    /Error distribution/ { sec = "errors" }
    /^ *\[[0-9]+\]/ {
      k = $1; gsub(/[\[\]]/, "", k)
      if (sec == "status") { if (k == 202) n += $2; else errors += $2 }
      if (sec == "errors") errors += k
    }
    END {
      printf "hey (gzip): concurrency %d: %d sends in %.2f s = %.1f sends/s; p50 %.2f ms, p99 %.2f ms; errors %d\n",
             c, n, t, (t > 0 ? n / t : 0), p50, p99, errors
      exit (errors > 0 || n == 0)
    }' <<<"$out"
}

echo "=== agentrelay bench/run.sh $(date -u +%FT%TZ) on $(hostname): $(nproc) CPUs," \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "agentrelay $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null), $(/usr/sbin/postconf -d -h mail_version 2>/dev/null | sed 's/^/Postfix /')"

# ================================================================ Postfix yardstick
PF_ACCEPT=""
postfix_acceptance() {  # Postfix smtpd acceptance without DKIM, next to each issue's own runs (the host drifts)
  note "Postfix without DKIM: $ACCEPT_N messages, $SESS sessions"
  local line; line=$(postfix_run "$ACCEPT_N" off)
  echo "$line"
  PF_ACCEPT=$(field_rate "$(grep median <<<"$line")" accepted)
}

# ================================================================ Issue 2: send_email over HTTP
issue2() {
echo
echo "--- Issue 2: send_email over HTTP (POST /v1/messages, durable: group commit + fsync) [load $(loadavg)]"
echo "    recipient sink@bench.test routed to Postfix's smtp-sink on loopback; the delivery engine"
echo "    relays every message there, while the load runs or, held by intake first, right after it"
echo "    (no DKIM shortcut: it signs as in production)"
D2=$WORK/data-http
new_data "$D2"
config "$WORK/http.json" 20
start_sink sink-http.out
serve "$D2" serve-http.log --http 127.0.0.1:$HTTP_PORT --route bench.test=127.0.0.1:$SINK_PORT \
  --config "$WORK/http.json"
wait_listen $HTTP_PORT
settle
write_send_lua
declare -A RATE P99
total_sent=0
for c in 1 16 64; do
  runs=1; [[ $c == 16 ]] && runs=$RUNS   # the target's level: the median of RUNS runs
  load_median http_load "$c" "$runs"
  RATE[$c]=$MED_RATE; P99[$c]=$MED_P99
done
# The same load from a Go client (hey) that asks for gzip, as nearly every real HTTP library
# does: the door must not compress its small answers (issue 16).
printf '{"to":"sink@bench.test","subject":"bench","text":"%s"}' "$(head -c 1500 /dev/zero | tr '\0' x)" >"$WORK/send.json"
load_median hey_load 16 "$RUNS"
HEY_RATE=$MED_RATE; HEY_P99=$MED_P99
echo "delivered: all $total_sent messages reached smtp-sink (agentrelay CPU $(cpu_s "$SERVE_PID") s in total)"
stop_serve; stop_sink
rm -rf "$D2"   # ~1 GB the later parts should not have to write out
postfix_acceptance
echo "Postfix smtpd acceptance (same machine, same run): $PF_ACCEPT msg/s"
for c in 1 16 64; do
  echo "ratio at $c clients: $(calc '%.1f' "${RATE[$c]} / $PF_ACCEPT")x Postfix acceptance"
done
r16=$(calc '%.2f' "${RATE[16]} / $PF_ACCEPT")
echo "RESULT issue 2: ${RATE[16]} sends/s at 16 clients = ${r16}x Postfix (target >= 10x: $(verdict "$r16" 10));" \
     "p99 at 16 clients ${P99[16]} ms (target < 10 ms: $(awk -v p="${P99[16]}" 'BEGIN{print (p < 10 ? "MET" : "MISSED")}'))"
rh=$(calc '%.2f' "$HEY_RATE / $PF_ACCEPT")
echo "RESULT issue 16: hey with Accept-Encoding: gzip, 16 clients: $HEY_RATE sends/s = ${rh}x Postfix" \
     "(target >= 10x: $(verdict "$rh" 10)); p99 $HEY_P99 ms (target < 10 ms: $(awk -v p="$HEY_P99" 'BEGIN{print (p < 10 ? "MET" : "MISSED")}'))"

}

# ================================================================ Issue 3: DKIM delivery
issue3() {
echo
echo "--- Issue 3: queued -> accepted by smtp-sink, DKIM-signed twice (ed25519-sha256 + rsa-sha256) [load $(loadavg)]"
D3=$WORK/data-dkim
new_data "$D3"
# Phase A: queue N over HTTP while the only next hop never answers (one connection), so
# nothing is delivered; then stop the relay. What it had claimed is released by the next one.
start_slow $HOLD_PORT 100000 "$WORK/hold.status"; HOLD_PID=$LAST_PID
config "$WORK/hold.json" 1
serve "$D3" serve-queue.log --http 127.0.0.1:$HTTP_PORT --route bench.test=127.0.0.1:$HOLD_PORT \
  --config "$WORK/hold.json"
wait_listen $HTTP_PORT
line=$("$SEND_LOAD" --port $HTTP_PORT --key "$KEY" --to sink@bench.test --concurrency 64 --count "$N") ||
  { echo "$line"; die "queueing $N failed"; }
echo "queued: $line"
stop_serve; stop_pid "$HOLD_PID"
settle
# Phase B: a fresh relay process drains the queue into smtp-sink (20 connections, no rate cap).
config "$WORK/drain.json" 20
start_sink sink-dkim.out
start_slow $SLOW_PORT 0 "$WORK/dump.status" --dump "$WORK/dkim-sample.eml"; DUMP_PID=$LAST_PID
t0=$(now)
serve "$D3" serve-drain.log --http 127.0.0.1:$HTTP_PORT --route bench.test=127.0.0.1:$SINK_PORT \
  --route "*=127.0.0.1:$SLOW_PORT" --config "$WORK/drain.json"
wait_sink "$N" 600 || die "only $(sink_count)/$N reached the sink in 600 s"
AR_DRAIN=$(calc '%.1f' "$N / ($T_REACHED - $t0)")
echo "agentrelay: delivered $N queued messages in $(calc '%.3f' "$T_REACHED - $t0") s ($AR_DRAIN msg/s)," \
     "DKIM ed25519+rsa2048, 20 connections; agentrelay CPU $(cpu_s "$SERVE_PID") s" \
     "($(calc '%.2f' "1000 * $(cpu_s "$SERVE_PID") / $N") ms/msg)"
# One more message through the dumping sink: both signatures must verify (dkimpy).
"$SEND_LOAD" --port $HTTP_PORT --key "$KEY" --to check@dkim-check.test --concurrency 1 --count 1 >/dev/null ||
  die "sending the DKIM sample failed"
for _ in $(seq 200); do [[ -s $WORK/dkim-sample.eml ]] && break; sleep 0.05; done
$PY "$ROOT/bench/dkim_check.py" "$D3.init" "$WORK/dkim-sample.eml" || die "DKIM check failed"
stop_serve; stop_pid "$DUMP_PID"; stop_sink

# End to end, like Postfix's figure: HTTP sends and delivery together, from the first send to
# the last message at the sink.
D3b=$WORK/data-e2e
new_data "$D3b"
start_sink sink-e2e.out
serve "$D3b" serve-e2e.log --http 127.0.0.1:$HTTP_PORT --route bench.test=127.0.0.1:$SINK_PORT \
  --config "$WORK/drain.json"
wait_listen $HTTP_PORT
t0=$(now)
line=$("$SEND_LOAD" --port $HTTP_PORT --key "$KEY" --to sink@bench.test --concurrency $SESS --count "$N") ||
  { echo "$line"; die "sending $N failed"; }
wait_sink "$N" 600 || die "only $(sink_count)/$N reached the sink in 600 s"
AR_E2E=$(calc '%.1f' "$N / ($T_REACHED - $t0)")
echo "agentrelay end to end: $N sent over HTTP ($SESS clients) and delivered in" \
     "$(calc '%.3f' "$T_REACHED - $t0") s ($AR_E2E msg/s); agentrelay CPU $(cpu_s "$SERVE_PID") s"
stop_serve; stop_sink

note "Postfix + OpenDKIM: $N messages"
PF_ON=$(postfix_run "$N" on)
echo "$PF_ON"
PF_DEL=$(field_rate "$(grep median <<<"$PF_ON")" delivered)

note "openssl speed (signing limit)"
speed=$(openssl speed -seconds 3 ed25519 rsa2048 2>/dev/null)
RSA_S=$(awk '/^rsa 2048 bits/ {print $(NF-1)}' <<<"$speed" | tail -1)
ED_S=$(awk '/Ed25519/ && /EdDSA/ {print $(NF-1)}' <<<"$speed" | tail -1)
[[ -n $RSA_S && -n $ED_S ]] || die "cannot read openssl speed's output"
LIMIT=$(calc '%.1f' "$(nproc) / (1/$ED_S + 1/$RSA_S)")
echo "signing limit: openssl speed: ed25519 $ED_S sign/s, rsa2048 $RSA_S sign/s per core;" \
     "dual signatures: $(calc '%.1f' "1 / (1/$ED_S + 1/$RSA_S)")/s per core x $(nproc) cores = $LIMIT msg/s"
rd=$(calc '%.2f' "$AR_DRAIN / $PF_DEL"); re=$(calc '%.2f' "$AR_E2E / $PF_DEL")
fd=$(calc '%.2f' "$AR_DRAIN / $LIMIT"); fe=$(calc '%.2f' "$AR_E2E / $LIMIT")
echo "ratio vs Postfix+OpenDKIM delivered ($PF_DEL msg/s; Postfix signs rsa only): queued->delivered ${rd}x," \
     "end to end ${re}x"
echo "fraction of the signing limit: queued->delivered $fd, end to end $fe"
echo "RESULT issue 3 (delivery): $AR_DRAIN msg/s queued->delivered = ${rd}x Postfix+OpenDKIM (target >= 10x:" \
     "$(verdict "$rd" 10)); $fd of the signing limit (target >= 0.5: $(verdict "$fd" 0.5))"

}

# ---------------------------------------------------------------- 1000 slow conversations
issue3_slow() {
echo
echo "--- Issue 3: $SLOW_N messages to $SLOW_N domains, '*' routed to a sink answering each command after ${SLOW_DELAY} s [load $(loadavg)]"
D4=$WORK/data-slow
new_data "$D4"
config "$WORK/slow.json" $((SLOW_N + 100))
start_slow $SLOW_PORT "$SLOW_DELAY" "$WORK/slow.status"; SLOW_PID=$LAST_PID
serve "$D4" serve-slow.log --http 127.0.0.1:$HTTP_PORT --route "*=127.0.0.1:$SLOW_PORT" --config "$WORK/slow.json"
wait_listen $HTTP_PORT
rss0=$(status_kb "$SERVE_PID" VmRSS)
t0=$(now)
line=$("$SEND_LOAD" --port $HTTP_PORT --key "$KEY" --to 'rcpt@d{i}.slow.test' --concurrency 64 --count "$SLOW_N") ||
  { echo "$line"; die "sending $SLOW_N failed"; }
echo "queued: $line"
deadline=$(( ${EPOCHREALTIME%.*} + 300 ))
while (( $(slow_field "$WORK/slow.status" messages) < SLOW_N )); do
  (( ${EPOCHREALTIME%.*} > deadline )) && break
  sleep 0.1
done
t1=$(now)
got=$(slow_field "$WORK/slow.status" messages); peak=$(slow_field "$WORK/slow.status" peak)
hwm=$(status_kb "$SERVE_PID" VmHWM); thr=$(status_kb "$SERVE_PID" Threads)
stop_serve; stop_pid "$SLOW_PID"
echo "slow sink: $got/$SLOW_N messages accepted in $(calc '%.1f' "$t1 - $t0") s; peak simultaneous sessions $peak"
echo "agentrelay: RSS at start $((rss0 / 1024)) MiB, peak RSS (VmHWM) $(calc '%.1f' "$hwm / 1024") MiB, $thr threads"
echo "RESULT issue 3 (concurrency): $peak sessions held at once (target $SLOW_N: $(verdict "$peak" "$SLOW_N"))," \
     "peak RSS $(calc '%.1f' "$hwm / 1024") MiB (target < 200 MB: $(awk -v k="$hwm" 'BEGIN{print (k*1024 < 200e6 ? "MET" : "MISSED")}'))"

}

# ================================================================ Issue 17: sends beside waiting agents
issue17() {
echo
echo "--- Issue 17: send_email (wrk) with $IDLE_N idle keep-alive connections and $WAIT_N wait_for_message long-polls open [load $(loadavg)]"
D6=$WORK/data-wait
new_data "$D6"
config "$WORK/wait.json" 20
start_sink sink-wait.out
serve "$D6" serve-wait.log --http 127.0.0.1:$HTTP_PORT --route bench.test=127.0.0.1:$SINK_PORT --config "$WORK/wait.json"
wait_listen $HTTP_PORT
thr0=$(status_kb "$SERVE_PID" Threads); rss0=$(status_kb "$SERVE_PID" VmRSS)
rm -f "$WORK/idle.status"
$PY "$ROOT/bench/idle_clients.py" --port $HTTP_PORT --key "$KEY" --idle "$IDLE_N" --waiters "$WAIT_N" \
  --status "$WORK/idle.status" >"$WORK/idle.log" 2>&1 &
IDLE_PID=$!; PIDS+=("$IDLE_PID")
for _ in $(seq 1200); do grep -q ready "$WORK/idle.status" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$WORK/idle.status" 2>/dev/null || { cat "$WORK/idle.log"; die "the idle clients did not connect"; }
echo "open beside the load: $(cat "$WORK/idle.status"); agentrelay threads $thr0 before, $(status_kb "$SERVE_PID" Threads) now"
write_send_lua
declare -A WRATE WP99
total_sent=0
for c in 16 64; do
  load_median http_load "$c" "$RUNS"
  WRATE[$c]=$MED_RATE; WP99[$c]=$MED_P99
done
echo "still open after the load: $(cat "$WORK/idle.status")"
hwm=$(status_kb "$SERVE_PID" VmHWM); thr=$(status_kb "$SERVE_PID" Threads)
stop_pid "$IDLE_PID"; stop_serve; stop_sink
rm -rf "$D6"
echo "agentrelay: peak RSS (VmHWM) $(calc '%.1f' "$hwm / 1024") MiB (RSS at start $((rss0 / 1024)) MiB), $thr threads"
postfix_acceptance
for c in 16 64; do
  r=$(calc '%.2f' "${WRATE[$c]} / $PF_ACCEPT")
  echo "RESULT issue 17: $c clients beside $IDLE_N idle and $WAIT_N waiting: ${WRATE[$c]} sends/s = ${r}x Postfix" \
       "(target >= 10x: $(verdict "$r" 10)); p99 ${WP99[$c]} ms (target < 10 ms: $(awk -v p="${WP99[$c]}" 'BEGIN{print (p < 10 ? "MET" : "MISSED")}'))"
done
}

# ================================================================ Issue 4: SMTP submission
issue4() {
echo
echo "--- Issue 4: SMTP submission from a trusted network (127.0.0.1/32=sender, no TLS, no AUTH) [load $(loadavg)]"
echo "    smtp-source: $ACCEPT_N messages, $SESS sessions, ${LEN}-byte messages, one connection a message"
D5=$WORK/data-sub
new_data "$D5"
config "$WORK/sub.json" 20
start_sink sink-sub.out
serve "$D5" serve-sub.log --submission 127.0.0.1:$SUB_PORT --trusted-network 127.0.0.1/32=sender \
  --route bench.test=127.0.0.1:$SINK_PORT --config "$WORK/sub.json"
wait_listen $SUB_PORT
# Warm-up, untimed, as the Postfix yardstick has (WARMUP there): the store's WAL grows to its
# working size and the delivery connections open; the timed runs start once it is delivered.
if (( WARMUP > 0 )); then
  /usr/sbin/smtp-source -s $SESS -m "$WARMUP" -l $LEN -f sender@relay.bench.test -t sink@bench.test \
    127.0.0.1:$SUB_PORT >"$WORK/smtp-source-sub.log" 2>&1 || { cat "$WORK/smtp-source-sub.log"; die "smtp-source failed"; }
  wait_sink "$WARMUP" 300 || die "only $(sink_count)/$WARMUP warm-up messages reached smtp-sink within 300 s"
fi
subs=()
for r in $(seq "$RUNS"); do
  settle
  t0=$(now)
  /usr/sbin/smtp-source -s $SESS -m "$ACCEPT_N" -l $LEN -f sender@relay.bench.test -t sink@bench.test \
    127.0.0.1:$SUB_PORT >"$WORK/smtp-source-sub.log" 2>&1 || { cat "$WORK/smtp-source-sub.log"; die "smtp-source failed"; }
  t1=$(now)
  subs+=("$(calc '%.1f' "$ACCEPT_N / ($t1 - $t0)")")
  # As the Postfix yardstick does: the next run once this one's messages are delivered.
  wait_sink $((WARMUP + r * ACCEPT_N)) 300 || die "only $(sink_count)/$((WARMUP + r * ACCEPT_N)) reached smtp-sink within 300 s"
  echo "agentrelay submission run $r: accepted $ACCEPT_N in $(calc '%.3f' "$t1 - $t0") s (${subs[-1]} msg/s);" \
       "delivered in $(calc '%.3f' "$T_REACHED - $t0") s"
done
AR_SUB=$(median "${subs[@]}")
echo "agentrelay submission: $AR_SUB msg/s (median of $RUNS runs); all $((RUNS * ACCEPT_N)) delivered to smtp-sink"
stop_serve; stop_sink
postfix_acceptance
rs=$(calc '%.2f' "$AR_SUB / $PF_ACCEPT")
echo "RESULT issue 4: $AR_SUB msg/s = ${rs}x Postfix smtpd acceptance ($PF_ACCEPT msg/s) (target >= 5x: $(verdict "$rs" 5))"
}

for part in $ONLY; do
  case $part in
    2) issue2 ;;
    3) issue3 ;;
    3slow) issue3_slow ;;
    4) issue4 ;;
    17) issue17 ;;
    *) die "ONLY takes 2, 3, 3slow, 4 and 17, got '$part'" ;;
  esac
done
