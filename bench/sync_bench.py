"""Sync benchmark: Tandem against the reference y-websocket server, same clients, same run.

    .venv/bin/python bench/sync_bench.py            # full run (a few minutes)
    .venv/bin/python bench/sync_bench.py --quick    # smaller loads, for a smoke check

Needs `npm ci --prefix bench`. Both servers are started here, on loopback, and stopped by PID.
Prints a table with Tandem / reference ratios and writes bench/results/sync-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOAD = BENCH / "sync_load.mjs"
REFERENCE = BENCH / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return (
            f"ws://127.0.0.1:{self.port}/sync"
            if self.name == "tandem"
            else (f"ws://127.0.0.1:{self.port}")
        )

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def start_tandem(data_dir: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "TANDEM_PORT": str(port),
        "TANDEM_DATA_DIR": str(data_dir),
        "TANDEM_LOG_LEVEL": "warning",
        # The reference server has no authentication: compare the protocol alone.
        "TANDEM_OPEN_ACCESS": "true",
    }
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=env)
    wait_port(port)
    return Server("tandem", proc, port)


def start_reference() -> Server:
    if not REFERENCE.exists():
        raise SystemExit("run `npm ci --prefix bench` first")
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    proc = subprocess.Popen(["node", str(REFERENCE)], env=env, stdout=subprocess.DEVNULL)
    wait_port(port)
    return Server("reference", proc, port)


def load(mode: str, server: Server, **args: object) -> dict:
    cmd = ["node", str(LOAD), mode, "--url", server.url]
    for key, value in args.items():
        cmd += [f"--{key}", str(value)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def idle_rss(server: Server, conns: int, docs: int) -> dict:
    before = rss_kib(server.proc.pid)
    cmd = [
        "node",
        str(LOAD),
        "idle",
        "--url",
        server.url,
        "--conns",
        str(conns),
        "--docs",
        str(docs),
    ]
    holder = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    ready = json.loads(holder.stdout.readline())
    assert ready.get("ready"), ready
    # Node's RSS moves with its GC: take the median of samples over a few seconds.
    samples = []
    for _ in range(7):
        time.sleep(1.0)
        samples.append(rss_kib(server.proc.pid))
    after = sorted(samples)[len(samples) // 2]
    holder.stdin.close()
    holder.wait(timeout=120)
    return {
        "conns": conns,
        "docs": docs,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "per_conn_kib": (after - before) / conns,
    }


def run(quick: bool) -> dict:
    loads = [(10, 4, 10), (50, 4, 10)] if not quick else [(10, 4, 10)]
    duration = 5 if quick else 20
    sizes = [100_000, 1_000_000]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("tandem", "reference"):
            server = start_tandem(Path(tmp) / "data") if name == "tandem" else start_reference()
            try:
                res: dict = {"latency": [], "connect": []}
                for docs, clients, rate in loads:
                    res["latency"].append(
                        load(
                            "latency",
                            server,
                            docs=docs,
                            clients=clients,
                            rate=rate,
                            duration=duration,
                            warmup=2,
                        )
                    )
                for size in sizes:
                    res["connect"].append(
                        load("connect", server, bytes=size, repeats=10 if quick else 30)
                    )
                results[name] = res
            finally:
                server.stop()
            # Memory on a fresh process: after the loads above, Node's heap shrinks as its GC
            # catches up and Python's holds freed arenas, so neither baseline would be fair.
            server = start_tandem(Path(tmp) / "idle") if name == "tandem" else start_reference()
            try:
                results[name]["idle"] = idle_rss(server, 200 if quick else 1000, 100)
            finally:
                server.stop()
    return results


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def report(results: dict) -> None:
    t, r = results["tandem"], results["reference"]
    print(f"{'scenario':44} {'tandem':>12} {'reference':>12} {'ratio':>8}")
    for lt, lr in zip(t["latency"], r["latency"]):
        label = f"{lt['docs']} docs x {lt['clients']} clients x {lt['rate']}/s"
        for p in ("p50", "p99"):
            a, b = lt["latency_ms"][p], lr["latency_ms"][p]
            print(f"latency {p} ms  {label:29} {a:12.2f} {b:12.2f} {ratio(a, b):>8}")
        print(
            f"  deliveries measured/expected: tandem {lt['measured_deliveries']}/"
            f"{lt['expected_deliveries']}, reference {lr['measured_deliveries']}/"
            f"{lr['expected_deliveries']}; diverged docs: {lt['diverged_docs']}, "
            f"{lr['diverged_docs']}"
        )
    for ct, cr in zip(t["connect"], r["connect"]):
        for p in ("p50", "p99"):
            a, b = ct["connect_ms"][p], cr["connect_ms"][p]
            label = f"connect-to-synced {p} ms, {ct['update_bytes'] // 1000} KB doc"
            print(f"{label:44} {a:12.2f} {b:12.2f} {ratio(a, b):>8}")
    a, b = t["idle"]["per_conn_kib"], r["idle"]["per_conn_kib"]
    label = f"RSS per idle connection KiB ({t['idle']['conns']})"
    print(f"{label:44} {a:12.1f} {b:12.1f} {ratio(a, b):>8}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = run(args.quick)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"sync-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    report(results)
    print(f"\nraw results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
