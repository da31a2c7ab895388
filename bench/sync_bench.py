"""Sync benchmark: Tandem against the reference y-websocket server, same clients, same run.

    .venv/bin/python bench/sync_bench.py            # full run (a few minutes)
    .venv/bin/python bench/sync_bench.py --quick    # smaller loads, for a smoke check
    .venv/bin/python bench/sync_bench.py --loads hot --rounds 1   # the hot document alone
    .venv/bin/python bench/sync_bench.py --ramp --rounds 2        # edits/s until p99 > 50 ms

Each round starts both servers afresh and runs every load on each (see bench/rounds.py).

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
sys.path.insert(0, str(ROOT))

from bench.rounds import order, ratio, row, undelivered


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


def cpu_s(pid: int) -> float:
    """User plus system CPU the process has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def start_tandem(data_dir: Path, **settings: str) -> Server:
    """``tandem serve`` with open access (the reference server has no authentication:
    compare the protocol alone) unless ``settings`` (TANDEM_* names) say otherwise."""
    port = free_port()
    env = {
        **os.environ,
        "TANDEM_PORT": str(port),
        "TANDEM_DATA_DIR": str(data_dir),
        "TANDEM_LOG_LEVEL": "warning",
        "TANDEM_OPEN_ACCESS": "true",
        **settings,
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


GENERATOR_FLAGS = ["--initial-old-space-size=1024"]
"""The load generator's heap starts large enough for a whole run: its mark-compacts, every few
seconds as the clients' documents grow, stalled every client of a thread by up to 25 ms, in the
figures of both servers alike (bench/README.md)."""


def latency(
    server: Server, docs: int, clients: int, rate: float, seconds: int, threads: int
) -> dict:
    """One latency load's figures, with the server's CPU per update and share of a core."""
    before = cpu_s(server.proc.pid)
    figures = load(
        "latency",
        server,
        docs=docs,
        clients=clients,
        rate=rate,
        duration=seconds,
        warmup=2,
        threads=threads,
    )
    # CPU per update is steadier than p99 on a shared machine, and p99 follows it there: the
    # more CPU an update costs, the longer the queues behind the machine's hiccups.
    used = cpu_s(server.proc.pid) - before
    figures["server_cpu_us_per_update"] = used / figures["updates_sent"] * 1e6
    figures["server_cpu_share"] = used / (seconds + 2)
    return figures


def load(mode: str, server: Server, **args: object) -> dict:
    cmd = ["node", *GENERATOR_FLAGS, str(LOAD), mode, "--url", server.url]
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


HOT: list[tuple[int, int, float]] = [(1, 50, 2), (1, 200, 0.5)]
"""One document many people type into at once (issue 25.1): a class, a meeting. With 200
clients each edit goes to 199 others; at 2 edits/s each that is 80,000 deliveries a second,
which the load generator alone cannot apply on this 2-core machine (its loop stalled 1.4 to
1.8 s with either server), so the 200 type at the 50's total rate, 100 edits/s."""


def parse_loads(text: str) -> list[tuple[int, int, float]]:
    """``DOCSxCLIENTSxRATE[,...]`` (``hot`` for HOT), e.g. ``1x50x2,50x4x10``."""
    if text == "hot":
        return list(HOT)
    loads = []
    for part in text.split(","):
        docs, clients, rate = part.lower().split("x")
        loads.append((int(docs), int(clients), float(rate)))
    return loads


def run(
    quick: bool, rounds: int, threads: int, loads: list[tuple[int, int, float]] | None = None
) -> dict:
    only_latency = loads is not None  # loads named on the command line: those alone
    if loads is None:
        loads = [(10, 4, 10), (50, 4, 10), *HOT] if not quick else [(10, 4, 10)]
    duration = 5 if quick else 20
    sizes = [] if only_latency else [100_000, 1_000_000]
    results: dict[str, dict] = {"tandem": {"rounds": []}, "reference": {"rounds": []}}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(rounds):
            for name in order(number, ("tandem", "reference")):
                data = Path(tmp) / f"data-{number}"
                server = start_tandem(data) if name == "tandem" else start_reference()
                try:
                    res: dict = {"latency": [], "connect": []}
                    for docs, clients, rate in loads:
                        res["latency"].append(
                            latency(server, docs, clients, rate, duration, threads)
                        )
                    for size in sizes:
                        res["connect"].append(
                            load("connect", server, bytes=size, repeats=10 if quick else 30)
                        )
                    results[name]["rounds"].append(res)
                finally:
                    server.stop()
        for name in () if only_latency else ("tandem", "reference"):
            # Memory on a fresh process: after the loads above, Node's heap shrinks as its GC
            # catches up and Python's holds freed arenas, so neither baseline would be fair.
            server = start_tandem(Path(tmp) / "idle") if name == "tandem" else start_reference()
            try:
                results[name]["idle"] = idle_rss(server, 200 if quick else 1000, 100)
            finally:
                server.stop()
    return results


RAMP_DOCS, RAMP_CLIENTS = 50, 4
RAMP_RATES = (5, 10, 20, 25, 30, 35, 40, 50, 60, 80, 100)
"""Edits/s per client the saturation ramp tries, in order, until p99 passes RAMP_P99_MS."""
RAMP_P99_MS = 50.0


def ramp(rounds: int, threads: int, seconds: int = 10) -> dict:
    """Issue 25.2: each server, started afresh, under 50 docs x 4 clients at rising rates;
    the rate at which p99 passes 50 ms, as edits/s offered and delivered."""
    results: dict[str, list[list[dict]]] = {"tandem": [], "reference": []}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(rounds):
            for name in order(number, ("tandem", "reference")):
                server = (
                    start_tandem(Path(tmp) / f"ramp-{number}")
                    if name == "tandem"
                    else start_reference()
                )
                steps: list[dict] = []
                try:
                    for rate in RAMP_RATES:
                        figures = latency(server, RAMP_DOCS, RAMP_CLIENTS, rate, seconds, threads)
                        steps.append(
                            {
                                "rate": rate,
                                "edits_per_s": RAMP_DOCS * RAMP_CLIENTS * rate,
                                "p50": figures["latency_ms"]["p50"],
                                "p99": figures["latency_ms"]["p99"],
                                "deliveries_per_s": figures["deliveries_per_s"],
                                "server_cpu_share": figures["server_cpu_share"],
                                "generator_stall_p99": figures["generator_loop_delay_ms"]["p99"],
                            }
                        )
                        if figures["latency_ms"]["p99"] > RAMP_P99_MS:
                            break
                finally:
                    server.stop()
                results[name].append(steps)
    return results


def ramp_report(results: dict) -> None:
    print(f"saturation ramp: {RAMP_DOCS} docs x {RAMP_CLIENTS} clients, p99 limit {RAMP_P99_MS} ms")
    for name, rounds in results.items():
        for number, steps in enumerate(rounds):
            under = [s for s in steps if s["p99"] <= RAMP_P99_MS]
            best = under[-1]["edits_per_s"] if under else 0
            trail = ", ".join(f"{s['edits_per_s']}/s p99 {s['p99']:.1f}" for s in steps)
            print(f"  {name:9} round {number}: sustained {best} edits/s  ({trail})")


def report(results: dict) -> None:
    t, r = results["tandem"]["rounds"], results["reference"]["rounds"]
    print(f"{len(t)} rounds; each figure is the median of the rounds' figures")
    print(
        f"{'scenario':44} {'tandem':>10} {'reference':>10} {'ratio':>7} {'paired':>7}   per round (t/r)"
    )
    for i, first in enumerate(t[0]["latency"]):
        label = f"{first['docs']} docs x {first['clients']} clients x {first['rate']}/s"
        for p in ("p50", "p99", "max"):
            row(
                f"latency {p} ms  {label}",
                [x["latency"][i]["latency_ms"][p] for x in t],
                [x["latency"][i]["latency_ms"][p] for x in r],
            )
        row(
            f"CPU us/update   {label}",
            [x["latency"][i]["server_cpu_us_per_update"] for x in t],
            [x["latency"][i]["server_cpu_us_per_update"] for x in r],
        )
        row(
            f"gen stall p99 ms {label}",
            [x["latency"][i]["generator_loop_delay_ms"]["p99"] for x in t],
            [x["latency"][i]["generator_loop_delay_ms"]["p99"] for x in r],
        )
        lat_t, lat_r = [x["latency"][i] for x in t], [x["latency"][i] for x in r]
        diverged = sum(x["diverged_docs"] for x in lat_t + lat_r)
        print(
            f"  undelivered at the end: tandem {undelivered(lat_t)}, reference "
            f"{undelivered(lat_r)}; diverged docs: {diverged}"
        )
    for i, first in enumerate(t[0]["connect"]):
        for p in ("p50", "p99"):
            row(
                f"connect-to-synced {p} ms, {first['update_bytes'] // 1000} KB doc",
                [x["connect"][i]["connect_ms"][p] for x in t],
                [x["connect"][i]["connect_ms"][p] for x in r],
            )
    if "idle" not in results["tandem"]:
        return
    a, b = results["tandem"]["idle"]["per_conn_kib"], results["reference"]["idle"]["per_conn_kib"]
    label = f"RSS per idle connection KiB ({results['tandem']['idle']['conns']})"
    print(f"{label:44} {a:10.1f} {b:10.1f} {ratio(a, b):>7}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh servers per round; medians are reported"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads of the latency load's clients: each has its own heap, so the generator's"
        " garbage collections stall fewer clients for less time (bench/README.md)",
    )
    parser.add_argument(
        "--ramp", action="store_true", help="the saturation ramp alone (issue 25.2)"
    )
    parser.add_argument(
        "--loads",
        type=parse_loads,
        help="latency loads as DOCSxCLIENTSxRATE[,...], or 'hot' for the hot document ones",
    )
    args = parser.parse_args()
    if args.ramp:
        found = ramp(args.rounds, args.threads)
        out = BENCH / "results"
        out.mkdir(exist_ok=True)
        (out / f"ramp-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(found))
        ramp_report(found)
        return
    results = run(args.quick, args.rounds, args.threads, args.loads)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"sync-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    report(results)
    print(f"\nraw results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
