"""Cross-pod benchmark: Tandem pods (Redis stream + S3) against Hocuspocus instances with the
Redis extension, same Valkey, same clients, same run.

    .venv/bin/python bench/cluster_bench.py [--quick] [--rounds N]
    .venv/bin/python bench/cluster_bench.py --shape 1x50x2 --pods 2   # the hot document

Needs `npm ci --prefix bench` and the test servers from `bash scripts/install.sh`. Prints
cross-pod propagation latency and delivered updates/s for 2 and 3 pods with Tandem / Hocuspocus
ratios, and writes bench/results/cluster-<time>.json."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.rounds import order, row, undelivered
from bench.sync_bench import LOAD, free_port, wait_port
from tests.cluster.services import S3Server, Valkey


def start_tandem_pods(count: int, valkey: Valkey, s3: S3Server, tmp: Path) -> list:
    pods = []
    for i in range(count):
        port = free_port()
        env = {
            **os.environ,
            "TANDEM_PORT": str(port),
            "TANDEM_DATA_DIR": str(tmp / f"pod-{i}"),
            "TANDEM_POD_ID": f"bench-pod-{i}",
            "TANDEM_REDIS_URL": valkey.url,
            "TANDEM_S3_ENDPOINT": s3.endpoint,
            "TANDEM_S3_ACCESS_KEY": s3.access_key,
            "TANDEM_S3_SECRET_KEY": s3.secret_key,
            "TANDEM_LOG_LEVEL": "warning",
            # Hocuspocus runs without authentication here, so Tandem does too.
            "TANDEM_OPEN_ACCESS": "true",
            "TANDEM_JWT_SECRET": "bench-only-secret-shared-by-the-pods-0123456789",
        }
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=env)
        pods.append((proc, f"ws://127.0.0.1:{port}/sync", port))
    for _, _, port in pods:
        wait_port(port)
    return pods


def start_hocuspocus(count: int, valkey: Valkey) -> list:
    instances = []
    for _ in range(count):
        port = free_port()
        env = {**os.environ, "PORT": str(port), "REDIS_PORT": str(valkey.port)}
        proc = subprocess.Popen(
            ["node", str(BENCH / "hocuspocus_server.mjs")], env=env, stdout=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        instances.append((proc, f"ws://127.0.0.1:{port}", port))
    return instances


def load(urls: list[str], provider: str, docs: int, clients: int, rate: int, seconds: int) -> dict:
    cmd = [
        "node",
        str(LOAD),
        "latency",
        "--url",
        ",".join(urls),
        "--provider",
        provider,
        "--docs",
        str(docs),
        "--clients",
        str(clients),
        "--rate",
        str(rate),
        "--duration",
        str(seconds),
        "--warmup",
        "2",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def stop(procs: list) -> None:
    for proc, _, _ in procs:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh servers per round; medians are reported"
    )
    parser.add_argument(
        "--shape",
        help="DOCSxCLIENTSxRATE instead of the default loads, e.g. 1x50x2 (the hot document)",
    )
    parser.add_argument("--pods", default="2,3", help="pod counts, comma-separated")
    args = parser.parse_args()
    docs, clients, seconds = (10, 4, 5) if args.quick else (25, 4, 15)
    # 10 edits/s per client is typing; 40/s offers 4,000 updates/s to 25 docs, past what this
    # 2-core machine serves, so the delivered rate shows each system's ceiling.
    rates: tuple[int, ...] = (10,) if args.quick else (10, 40)
    if args.shape:
        docs, clients, rate = (int(n) for n in args.shape.lower().split("x"))
        rates = (rate,)
    counts = tuple(int(n) for n in args.pods.split(","))
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        valkey = Valkey(tmp / "valkey", appendonly=True).start()
        s3 = S3Server(tmp / "s3").start()
        try:
            for number in range(args.rounds):
                for rate in rates:
                    for count in counts:
                        for name in order(number, ("tandem", "hocuspocus")):
                            where = tmp / f"{name}-{number}-{count}-{rate}"
                            figures = run_one(
                                name, count, valkey, s3, where, (docs, clients, rate, seconds)
                            )
                            results.setdefault(f"{name}-{count}-{rate}", []).append(figures)
        finally:
            s3.stop()
            valkey.stop()
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"{args.rounds} rounds; each figure is the median of the rounds' figures")
    for rate in rates:
        report(results, docs, clients, rate, counts)
    print(f"\nraw results: {path.relative_to(ROOT)}")


def run_one(
    name: str, count: int, valkey: Valkey, s3: S3Server, where: Path, shape: tuple[int, ...]
) -> dict:
    docs, clients, rate, seconds = shape
    if name == "tandem":
        servers = start_tandem_pods(count, valkey, s3, where)
        provider = "y-websocket"
    else:
        servers = start_hocuspocus(count, valkey)
        provider = "hocuspocus"
    try:
        return load([u for _, u, _ in servers], provider, docs, clients, rate, seconds)
    finally:
        stop(servers)


def report(
    results: dict[str, list[dict]], docs: int, clients: int, rate: int, counts: tuple[int, ...]
) -> None:
    print(f"\n{docs} docs x {clients} clients x {rate} edits/s, clients spread over the pods")
    print(
        f"{'scenario':40} {'tandem':>10} {'hocuspocus':>10} {'ratio':>7} {'paired':>7}   per round (t/h)"
    )
    for count in counts:
        t, h = results[f"tandem-{count}-{rate}"], results[f"hocuspocus-{count}-{rate}"]
        for p in ("p50", "p99", "max"):
            row(
                f"cross-pod latency {p} ms, {count} pods",
                [x["cross_pod_latency_ms"][p] for x in t],
                [x["cross_pod_latency_ms"][p] for x in h],
                width=40,
            )
        row(
            f"delivered updates/s, {count} pods",
            [x["deliveries_per_s"] for x in t],
            [x["deliveries_per_s"] for x in h],
            width=40,
        )
        diverged = sum(x["diverged_docs"] for x in t + h)
        print(
            f"  undelivered: tandem {undelivered(t)}, hocuspocus {undelivered(h)}; "
            f"diverged docs: {diverged}"
        )


if __name__ == "__main__":
    main()
