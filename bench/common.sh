# bench/common.sh: helpers shared by bench/run.sh and bench/postfix_baseline.sh (sourced; each
# script defines its own die()).

# listening PORT: something listens on 127.0.0.1:PORT (or any address) now.
listening() { ss -Hltn "sport = :$1" | grep -q .; }
# wait_listen PORT: up to 15 s for a listener on PORT, else die.
wait_listen() {
  local i; for i in $(seq 300); do listening "$1" && return 0; sleep 0.05; done
  die "nothing listens on 127.0.0.1:$1"
}
# median VALUES...: the middle value (the mean of the middle two for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END { print (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2) }'; }
