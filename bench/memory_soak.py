"""Memory soak (issue 25.4): does a pod's memory come back after documents close?

    .venv/bin/python bench/memory_soak.py [--cycles 10] [--docs 300] [--bytes 13000]
        [--minutes 0] [--env NAME=VALUE ...]

One embedded ``tandem serve``; each cycle opens ``--docs`` documents with a stock Yjs client
each, types ``--bytes`` characters into every one (300 x 13,000: about 4 MB), closes them, and
waits until the server has freed every room (``tandem_rooms`` 0). The pod's RSS is read then,
and every minute of ``--minutes`` more with nothing open. RSS that keeps climbing from cycle
to cycle is memory that does not come back. ``--env`` passes settings to the server, to
compare e.g. ``MALLOC_ARENA_MAX=2``.

Needs ``npm ci --prefix bench``. Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.sync_bench import LOAD, rss_kib, start_tandem


def rooms(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith("tandem_rooms "):
            return float(line.split()[1])
    raise RuntimeError("no tandem_rooms series")


def wait_rooms_freed(port: int, timeout_s: float = 60.0) -> float:
    """Seconds until the server holds no room (bounded)."""
    started = time.monotonic()
    while rooms(port) > 0:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError("rooms were not freed")
        time.sleep(0.1)  # polling a gauge with a deadline
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--bytes", type=int, default=13_000)
    parser.add_argument("--minutes", type=float, default=0.0)
    parser.add_argument(
        "--settle",
        type=float,
        default=12.0,
        help="seconds after the rooms are freed before RSS is read (a trim runs every 10 s)",
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_tandem(Path(tmp), **dict(item.split("=", 1) for item in args.env))
        try:
            port = server.port
            url = server.url
            started_kib = rss_kib(server.proc.pid)
            cycles = []
            for _ in range(args.cycles):
                cmd = ["node", str(LOAD), "churn", "--url", url]
                cmd += ["--docs", str(args.docs), "--bytes", str(args.bytes)]
                subprocess.run(cmd, check=True, capture_output=True, timeout=600)
                freed_s = wait_rooms_freed(port)
                time.sleep(args.settle)  # the server's own trimming period, not a wait for state
                cycles.append({"rss_mib": rss_kib(server.proc.pid) / 1024, "freed_s": freed_s})
            later = []
            for _ in range(int(args.minutes)):
                time.sleep(60)  # the soak's quiet period itself
                later.append(rss_kib(server.proc.pid) / 1024)
            print(
                json.dumps(
                    {
                        "docs": args.docs,
                        "bytes_per_doc": args.bytes,
                        "env": args.env,
                        "rss_start_mib": round(started_kib / 1024, 1),
                        "rss_after_cycle_mib": [round(c["rss_mib"], 1) for c in cycles],
                        "rooms_freed_s_max": round(max(c["freed_s"] for c in cycles), 2),
                        "rss_each_quiet_minute_mib": [round(m, 1) for m in later],
                    }
                )
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
