#!/usr/bin/env bash
# postfix_baseline.sh: Postfix measured on this machine, in the same run as agentrelay, as the
# yardstick for bench/run.sh. Loopback only.
#
#   smtp-source ──SMTP──▶ private Postfix smtpd 127.0.0.1:$PF_PORT ──queue (fsync)──▶
#        Postfix smtp client ──▶ smtp-sink 127.0.0.1:$SINK_PORT     [optionally OpenDKIM as a milter]
#
# Usage: postfix_baseline.sh N DKIM(on|off)     env: SESS=20 LEN=2048 WARMUP=200 (untimed first)
#        RUNS=3 (timed runs of N each, on the same instance, as the shared anchor does)
# Prints a line per run, then the medians (the figure bench/run.sh uses):
#   postfix: accepted N in A s (X msg/s); delivered in D s (Y msg/s); dkim=on|off (median of R runs)
#
# A private instance in $PF_DIR (never /etc/postfix): its own main.cf/master.cf, queue and data
# directories. Things that bite a private Postfix, handled here: master.cf services must not be
# chrooted (there is no jail); data_directory must belong to the postfix user; mydestination
# and local maps must be empty so nothing is delivered locally; OpenDKIM refuses a key under a
# world-writable directory unless RequireSafeKeys is off; smtp-sink rewrites one status line
# with carriage returns, so its count is read from the end of its output.
set -uo pipefail

N=${1:?N}
DKIM=${2:-off}
SESS=${SESS:-20}
LEN=${LEN:-2048}
WARMUP=${WARMUP:-200}
RUNS=${RUNS:-3}
PF_DIR=${PF_DIR:-/var/tmp/agentrelay-bench-postfix}
PF_PORT=${PF_PORT:-10025}
SINK_PORT=${SINK_PORT:-10026}
MILTER_PORT=${MILTER_PORT:-10027}

die() { echo "postfix_baseline: $*" >&2; exit 1; }
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ $(id -u) == 0 ]] || die "run as root (Postfix needs it)"
for b in /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/sbin/postqueue; do
  [[ -x $b ]] || die "missing $b (apt-get install postfix)"
done
[[ $DKIM == off || -x /usr/sbin/opendkim ]] || die "missing opendkim (apt-get install opendkim opendkim-tools)"

pids=()
cleanup() {
  [[ -f $PF_DIR/etc/main.cf ]] && /usr/sbin/postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
trap cleanup EXIT

for p in $PF_PORT $SINK_PORT $MILTER_PORT; do listening "$p" && die "port $p is busy"; done

rm -rf "$PF_DIR"
mkdir -p "$PF_DIR"/{etc,queue,data,sink,dkim}
chown postfix: "$PF_DIR/data"
chown nobody "$PF_DIR/sink"
milter=""
[[ $DKIM == on ]] && milter="inet:127.0.0.1:$MILTER_PORT"
cat >"$PF_DIR/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
maillog_file = $PF_DIR/maillog
myhostname = baseline.bench.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:$SINK_PORT
smtpd_milters = $milter
non_smtpd_milters = $milter
EOF
cat >"$PF_DIR/etc/master.cf" <<EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
EOF

if [[ $DKIM == on ]]; then
  /usr/sbin/opendkim-genkey -b 2048 -d bench.test -s s1 -D "$PF_DIR/dkim" || die "opendkim-genkey"
  chown -R opendkim:opendkim "$PF_DIR/dkim"
  cat >"$PF_DIR/opendkim.conf" <<EOF
Mode s
Domain bench.test
Selector s1
KeyFile $PF_DIR/dkim/s1.private
Canonicalization relaxed/relaxed
Socket inet:$MILTER_PORT@127.0.0.1
UserID opendkim:opendkim
Syslog no
RequireSafeKeys no
EOF
  /usr/sbin/opendkim -f -x "$PF_DIR/opendkim.conf" >"$PF_DIR/opendkim.log" 2>&1 &
  pids+=($!)
  wait_listen "$MILTER_PORT"
fi

# With DKIM: one message first through a sink that dumps it; its signature must verify
# (dkimpy, key from s1.txt, no DNS), else the timed run would measure a milter doing nothing.
if [[ $DKIM == on ]]; then
  (cd "$PF_DIR/sink" && exec /usr/sbin/smtp-sink -u nobody -d "$PF_DIR/sink/msg-" 127.0.0.1:$SINK_PORT 100) \
    >"$PF_DIR/sink-check.out" 2>&1 &
  check_sink=$!; pids+=($check_sink)
  wait_listen "$SINK_PORT"
  /usr/sbin/postfix -c "$PF_DIR/etc" start >/dev/null 2>&1 || die "postfix start failed: $(tail -3 "$PF_DIR/maillog" 2>/dev/null)"
  wait_listen "$PF_PORT"
  /usr/sbin/smtp-source -m 1 -l 512 -f bench@bench.test -t sink@sink.test 127.0.0.1:$PF_PORT || die "check message refused"
  for _ in $(seq 200); do ls "$PF_DIR"/sink/msg-* >/dev/null 2>&1 && break; sleep 0.05; done
  sleep 0.2  # the dump is written as the message arrives; let it finish
  /usr/bin/python3 - "$PF_DIR/dkim/s1.txt" "$PF_DIR"/sink/msg-* <<'PY' >&2 || die "OpenDKIM's signature does not verify"
import re, sys, dkim
key = "".join(re.findall(r'"([^"]*)"', open(sys.argv[1]).read())).encode()
msg = re.sub(rb"\r?\n", b"\r\n", open(sys.argv[2], "rb").read())
ok = b"DKIM-Signature:" in msg and dkim.verify(msg, dnsfunc=lambda name, timeout=5: key)
print("postfix_baseline: dkim check: OpenDKIM rsa-sha256 signature", "verifies" if ok else "FAILS")
sys.exit(0 if ok else 1)
PY
  /usr/sbin/postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1  # also drops cached connections
  for _ in $(seq 100); do listening "$PF_PORT" || break; sleep 0.1; done
  kill "$check_sink" 2>/dev/null; wait "$check_sink" 2>/dev/null
  for _ in $(seq 100); do listening "$SINK_PORT" || break; sleep 0.05; done
  rm -f "$PF_DIR"/sink/msg-*
fi
(cd "$PF_DIR/sink" && exec /usr/sbin/smtp-sink -u nobody -c 127.0.0.1:$SINK_PORT 5000) >"$PF_DIR/sink.out" 2>&1 &
pids+=($!)
wait_listen "$SINK_PORT"
/usr/sbin/postfix -c "$PF_DIR/etc" start >/dev/null 2>&1 || die "postfix start failed: $(tail -3 "$PF_DIR/maillog" 2>/dev/null)"
wait_listen "$PF_PORT"

sink_count() {
  local s; s=$(tail -c 96 "$PF_DIR/sink.out" 2>/dev/null)
  [[ $s =~ mesg=([0-9]+)[^m]*$ ]] && echo "${BASH_REMATCH[1]}" || echo 0
}

# Warm-up (not timed): Postfix starts its smtpd, cleanup and smtp processes on demand; the
# timed run should not pay for that.
base=0
if (( WARMUP > 0 )); then
  /usr/sbin/smtp-source -s "$SESS" -m "$WARMUP" -l "$LEN" -f bench@bench.test -t sink@sink.test \
    127.0.0.1:$PF_PORT || die "smtp-source (warm-up) failed"
  for _ in $(seq 1200); do (( $(sink_count) >= WARMUP )) && break; sleep 0.05; done
  base=$(sink_count)
fi

# RUNS timed runs on the same instance; each line, then the median (what bench/run.sh uses).
accs=() dels=()
for run in $(seq "$RUNS"); do
  base=$(sink_count)
  t0=$EPOCHREALTIME
  /usr/sbin/smtp-source -s "$SESS" -m "$N" -l "$LEN" -f bench@bench.test -t sink@sink.test 127.0.0.1:$PF_PORT \
    || die "smtp-source failed"
  t_acc=$EPOCHREALTIME
  # The same waiter as bench/run.sh uses for agentrelay (one process polling, no forks).
  t_del=$(/usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/wait_sink.py" "$PF_DIR/sink.out" $((base + N)) 600) ||
    die "only $(( $(sink_count) - base ))/$N delivered in 600 s"
  accs+=("$(awk -v a="$t0" -v b="$t_acc" 'BEGIN { printf "%.3f", b-a }')")
  dels+=("$(awk -v a="$t0" -v c="$t_del" 'BEGIN { printf "%.3f", c-a }')")
  awk -v n="$N" -v a="${accs[-1]}" -v c="${dels[-1]}" -v dk="$DKIM" -v r="$run" 'BEGIN {
    printf "postfix run %d: accepted %d in %.3f s (%.1f msg/s); delivered in %.3f s (%.1f msg/s); dkim=%s\n",
           r, n, a, n/a, c, n/c, dk }'
done
awk -v n="$N" -v a="$(median "${accs[@]}")" -v c="$(median "${dels[@]}")" -v dk="$DKIM" -v r="$RUNS" 'BEGIN {
  printf "postfix: accepted %d in %.3f s (%.1f msg/s); delivered in %.3f s (%.1f msg/s); dkim=%s (median of %d runs)\n",
         n, a, n/a, c, n/c, dk, r }'
