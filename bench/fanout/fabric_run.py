"""Fabric client of the fan-out benchmark.

Runs one command on every host of a `name port` list with Fabric's ThreadingGroup
(Paramiko, a thread per host), checking host keys against the fleet's known_hosts,
and writes each host's stdout to OUT/NAME.out. Exits 1 when a host failed.
"""

import argparse
import sys

from fabric import Config, Connection, ThreadingGroup
from fabric.exceptions import GroupException
from paramiko import RejectPolicy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hosts", required=True, help="file of `name port` lines")
    p.add_argument("--user", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--known-hosts", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pool", type=int, help="unused: ThreadingGroup runs every host at once")
    a = p.parse_args()
    hosts = [line.split() for line in open(a.hosts) if line.strip()]
    config = Config(overrides={"load_ssh_configs": False})
    names = {}
    conns = []
    for name, port in hosts:
        c = Connection(
            "127.0.0.1",
            user=a.user,
            port=int(port),
            config=config,
            connect_timeout=60,
            connect_kwargs={
                "key_filename": [a.key],
                "look_for_keys": False,
                "allow_agent": False,
            },
        )
        c.client.load_host_keys(a.known_hosts)
        c.client.set_missing_host_key_policy(RejectPolicy())
        names[int(port)] = name
        conns.append(c)
    group = ThreadingGroup.from_connections(conns)
    try:
        results = group.run(a.command, hide=True, warn=True)
    except GroupException as e:
        results = e.result
    bad = 0
    for conn, r in results.items():
        name = names[conn.port]
        if isinstance(r, Exception):
            print(f"{name}: {r!r}", file=sys.stderr)
            bad += 1
            continue
        if r.exited != 0:
            print(f"{name}: exit code {r.exited}", file=sys.stderr)
            bad += 1
        with open(f"{a.out}/{name}.out", "w") as f:
            f.write(r.stdout)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
