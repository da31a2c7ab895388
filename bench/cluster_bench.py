"""Cross-pod benchmark: Tandem pods (Redis stream + S3) against Hocuspocus instances with the
Redis extension, same Valkey, same clients, same run.

    .venv/bin/python bench/cluster_bench.py [--quick]

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
    args = parser.parse_args()
    docs, clients, seconds = (10, 4, 5) if args.quick else (25, 4, 15)
    # 10 edits/s per client is typing; 40/s offers 4,000 updates/s to 25 docs, past what this
    # 2-core machine serves, so the delivered rate shows each system's ceiling.
    rates = (10,) if args.quick else (10, 40)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        valkey = Valkey(tmp / "valkey", appendonly=True).start()
        s3 = S3Server(tmp / "s3").start()
        try:
            for rate in rates:
                for count in (2, 3):
                    pods = start_tandem_pods(count, valkey, s3, tmp / f"tandem-{count}-{rate}")
                    try:
                        results[f"tandem-{count}-{rate}"] = load(
                            [u for _, u, _ in pods], "y-websocket", docs, clients, rate, seconds
                        )
                    finally:
                        stop(pods)
                    hocus = start_hocuspocus(count, valkey)
                    try:
                        results[f"hocuspocus-{count}-{rate}"] = load(
                            [u for _, u, _ in hocus], "hocuspocus", docs, clients, rate, seconds
                        )
                    finally:
                        stop(hocus)
        finally:
            s3.stop()
            valkey.stop()
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    for rate in rates:
        report(results, docs, clients, rate)
    print(f"\nraw results: {path.relative_to(ROOT)}")


def report(results: dict[str, dict], docs: int, clients: int, rate: int) -> None:
    print(f"\n{docs} docs x {clients} clients x {rate} edits/s, clients spread over the pods")
    print(f"{'scenario':40} {'tandem':>10} {'hocuspocus':>11} {'ratio':>7}")
    for count in (2, 3):
        t, h = results[f"tandem-{count}-{rate}"], results[f"hocuspocus-{count}-{rate}"]
        for p in ("p50", "p99"):
            a, b = t["cross_pod_latency_ms"][p], h["cross_pod_latency_ms"][p]
            print(
                f"{f'cross-pod latency {p} ms, {count} pods':40} {a:10.2f} {b:11.2f} {a / b:6.2f}x"
            )
        a, b = t["deliveries_per_s"], h["deliveries_per_s"]
        print(f"{f'delivered updates/s, {count} pods':40} {a:10.0f} {b:11.0f} {a / b:6.2f}x")
        print(
            f"  lost deliveries: tandem {t['expected_deliveries'] - t['measured_deliveries']}, "
            f"hocuspocus {h['expected_deliveries'] - h['measured_deliveries']}; diverged docs: "
            f"{t['diverged_docs']}, {h['diverged_docs']}"
        )


if __name__ == "__main__":
    main()
