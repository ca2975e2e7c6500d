#!/usr/bin/env bash
# A cold run through the queue against the same run in-process: `uname -a` on N
# throwaway sshd hosts on 127.0.0.1, `fleet run ... --json` and `fleet run ... --json
# --submit --follow` (one `fleet worker --keep-connections 0`, so every run connects
# and logs in), in turn, R of each, history on PostgreSQL. Every run must exit 0 with
# every host's output (`Linux ...`) in its JSON. Prints the medians and their ratio
# (see docs/performance.md).
#
#   bench/queue-cold.sh              # 200 hosts, 5 runs of each
#   bench/queue-cold.sh 50 3         # 50 hosts, 3 runs of each
set -euo pipefail

hosts=${1:-200}
reps=${2:-5}
cd "$(dirname "$0")/.."
cargo build --release -p fleet
fleet=${CARGO_TARGET_DIR:-target}/release/fleet
admin=$(scripts/pg-start.sh)
db_name=minke_queue_cold_$$
db=${admin%/*}/$db_name
work=$(mktemp -d /tmp/minke-queue-cold.XXXXXX)
psql_admin() { psql "$admin" -qAtc "$1"; }

cleanup() {
    [[ -n ${worker:-} ]] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
    "$fleet" demo --stop --dir "$work/demo" >/dev/null 2>&1 || true
    psql_admin "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "starting $hosts sshd hosts on 127.0.0.1 ..."
"$fleet" demo --hosts "$hosts" --dir "$work/demo" --keep >"$work/demo.log" 2>&1
psql_admin "CREATE DATABASE $db_name"
"$fleet" --database "$db" hosts import-ssh-config "$work/demo/ssh_config" >/dev/null
"$fleet" --database "$db" worker --name queue-cold --keep-connections 0 >"$work/worker.log" 2>&1 &
worker=$!

# One run; its wall time in seconds on stdout. Fails unless it exits 0 with every
# host's output.
one() {
    local out="$work/run.json" t0 t1 n
    t0=$(date +%s.%N)
    "$fleet" --database "$db" run command --model host --all --param 'cmd=uname -a' --json "$@" >"$out"
    t1=$(date +%s.%N)
    n=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sum(1 for s in d["sessions"] if s["commands"] and s["commands"][0]["stdout"].startswith("Linux ")))' "$out")
    if [[ $n -ne $hosts ]]; then
        echo "queue-cold: only $n of $hosts hosts printed their kernel" >&2
        exit 1
    fi
    printf '%.3f\n' "$(echo "$t1 - $t0" | bc)"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$work/inproc" && : >"$work/queue"
for rep in $(seq 1 "$reps"); do
    # A second between runs: the last run's connections close and sshd reaps them.
    sleep 1
    a=$(one)
    echo "$a" >>"$work/inproc"
    sleep 1
    b=$(one --submit --follow)
    echo "$b" >>"$work/queue"
    echo "rep $rep: in-process $a s, through the queue $b s"
done
inproc=$(median <"$work/inproc")
queue=$(median <"$work/queue")
printf '%s hosts, `uname -a`, median of %s: in-process %.3f s, through the queue %.3f s, ratio %.2f\n' \
    "$hosts" "$reps" "$inproc" "$queue" "$(echo "scale=4; $queue / $inproc" | bc)"
