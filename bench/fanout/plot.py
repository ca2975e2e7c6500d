"""Plot of the fan-out benchmark: wall time against host count, one line per tool.

usage: plot.py SUMMARY.tsv OUT.png

Reads the summary the `fanout` harness writes (medians of the small workload) and
draws each tool's median wall time, with the floor — the servers' CPU seconds divided
by the cores, below which no client can finish — as a dashed line.
"""

import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "minke": "Minke (fleet run, history in SQLite)",
    "openssh": "OpenSSH ssh, xargs -P N",
    "parallel-ssh": "parallel-ssh",
    "fabric": "Fabric ThreadingGroup",
    "ansible": "Ansible ad-hoc (raw)",
}
ORDER = ["minke", "openssh", "parallel-ssh", "fabric", "ansible"]


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rows = [
        r
        for r in csv.DictReader(open(sys.argv[1]), delimiter="\t")
        if r["workload"] == "small" and int(r["runs_ok"]) > 0
    ]
    if not rows:
        print("no small-workload results to plot", file=sys.stderr)
        return 1
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for tool in ORDER:
        pts = sorted(
            (int(r["hosts"]), float(r["wall_s"])) for r in rows if r["tool"] == tool
        )
        if not pts:
            continue
        xs, ys = zip(*pts)
        style = dict(linewidth=2.6, zorder=5) if tool == "minke" else dict(linewidth=1.5)
        ax.plot(xs, ys, marker="o", label=LABELS.get(tool, tool), **style)
    # The floor of each host count: the median over the tools that ran there.
    floors = {}
    for r in rows:
        floors.setdefault(int(r["hosts"]), []).append(float(r["floor_s"]))
    fx = sorted(floors)
    fy = [sorted(floors[x])[len(floors[x]) // 2] for x in fx]
    ax.plot(fx, fy, "k--", linewidth=1, label="floor: servers' CPU s / cores")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(fx)
    ax.set_xticklabels([str(x) for x in fx])
    ax.set_xlabel("hosts (OpenSSH servers on 127.0.0.1)")
    ax.set_ylabel("wall time, s (median)")
    ax.set_title("uname -a && echo done on every host, curve25519-sha256")
    ax.grid(True, which="both", alpha=0.3)
    top = max(float(r["wall_s"]) for r in rows)
    ax.set_ylim(min(fy + [0.1]) / 1.5, top * 1.5 if math.isfinite(top) else None)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(sys.argv[2])
    print(f"plot: {sys.argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
