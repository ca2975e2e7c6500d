#!/usr/bin/env bash
# Fan-out benchmark: Minke against OpenSSH, parallel-ssh, Fabric and Ansible on N
# throwaway sshd servers on 127.0.0.1 (see docs/performance.md).
#
#   bench/fanout.sh                          # the full run: 10, 50, 200, 500 hosts + large output
#   bench/fanout.sh --sizes 10,50 --reps 2   # a quick one; `--help` lists the options
#
# Builds the release binaries, installs the Python clients in bench/.venv (when PyPI
# can be reached; a tool that cannot be installed is left out), runs the `fanout`
# harness, and plots wall time against host count. Results go to
# bench/results/fanout-DATE/ (raw.tsv, summary.tsv, table.md, fanout.png); set
# FANOUT_PLOT=docs/images/fanout.png to also draw the plot there. Run it on a quiet
# machine: the harness prints the CPU the rest of the machine used during each run.
set -euo pipefail

cd "$(dirname "$0")/.."
venv=bench/.venv
if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv" || echo "fanout: no Python venv; the Python tools are left out" >&2
fi
if [[ -x $venv/bin/pip ]]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/fanout/requirements.txt ||
        echo "fanout: could not install every Python tool; those missing are left out" >&2
fi
cargo build --release -p fleet -p minke-bench
bin=${CARGO_TARGET_DIR:-target}/release

results=bench/results/fanout-$(date +%Y%m%d-%H%M%S)
work=$(mktemp -d /tmp/minke-fanout.XXXXXX)
# Each run's outputs go to memory when it can: no disk writeback to go uncounted.
scratch=$(mktemp -d /dev/shm/minke-fanout.XXXXXX 2>/dev/null || mktemp -d /tmp/minke-fanout-out.XXXXXX)
# Servers left by an interrupted run are stopped; outputs and databases removed.
trap '"$bin/fanout" --stop "$work/fleet" >/dev/null 2>&1 || true; rm -rf "$work" "$scratch"' EXIT

"$bin/fanout" --fleet "$bin/fleet" --results "$results" --work "$work" --scratch "$scratch" "$@"

if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    "$venv/bin/python" bench/fanout/plot.py "$results/summary.tsv" "$results/fanout.png"
    if [[ -n ${FANOUT_PLOT:-} ]]; then
        cp "$results/fanout.png" "$FANOUT_PLOT"
        echo "plot: $FANOUT_PLOT"
    fi
else
    echo "fanout: matplotlib is missing, no plot" >&2
fi
