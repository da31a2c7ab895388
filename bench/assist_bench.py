"""Assistant benchmark (issue 6), run by hand:

    .venv/bin/python bench/assist_bench.py [--samples 60] [--jobs 40]

1. Overhead: a scripted OpenAI-compatible model answers at a fixed token rate; another client
   watches the document's suggestions over /sync. For each request: time from sending
   POST /assist to the first proposal text visible at that client, minus the model's own
   time to first token (from receiving the request to sending its first chunk). p50/p99.
2. Throughput: ``--jobs`` requests at once over several documents; suggestions completed per
   second with 1 and with 4 workers.

``--deployment embedded``: one ``tandem serve`` (workers are in-process loops);
``cluster``: a pod on Valkey + SeaweedFS S3 + the MongoDB wire protocol and separate
``tandem assistant`` processes (workers are processes). Everything on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets
from pycrdt import Doc, Map
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.protocol import SyncStep1, SyncStep2, SyncUpdate, decode, encode
from tests.accounts import Account, sign_up
from tests.assistant.worker_proc import WorkerProcess
from tests.cluster.services import S3Server, Valkey, running
from tests.modelserver import ModelServer, Reply
from tests.mongo import running_mongo
from tests.server_proc import TandemProcess

JWT = "assist-bench-secret-0123456789-abcdefghijklmnopq"


def env_for(model: ModelServer, workers: int) -> dict[str, str]:
    return {
        "TANDEM_JWT_SECRET": JWT,
        "TANDEM_OPENAI_BASE_URL": model.base_url,
        "TANDEM_OPENAI_API_KEY": "bench",
        "TANDEM_ASSISTANT_WORKERS": str(workers),
        "TANDEM_OPENAI_CONCURRENCY": str(max(8, workers)),
        "TANDEM_ASSISTANT_RATE_PER_MIN": "100000",
        "TANDEM_ASSISTANT_STREAMS_PER_WORKSPACE": "1000",
        "TANDEM_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
        # With the server's websocket pings on, a cluster pod dropped this bench's Python
        # watcher 20-40 s in (TCP EOF, no close frame, still counted open): reported to the
        # sync owners; the bench measures the assistant, so the pings are off here.
        "TANDEM_WS_PING_INTERVAL_S": "3600",
        "TANDEM_FT_REGISTRY_CACHE_S": os.environ.get("TANDEM_FT_REGISTRY_CACHE_S", "5"),
    }


class BoardWatcher:
    """A raw /sync client on ``{doc}:suggestions`` noting when each suggestion's proposal first
    has text."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.doc = Doc()
        self.first_text_at: dict[str, float] = {}
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reconnects = 0

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _connect(self) -> None:
        self._ws = await websockets.connect(self.url, max_size=None, ping_interval=None)
        await self._ws.send(encode(SyncStep1(self.doc.get_state())))

    async def _read(self) -> None:
        while True:
            try:
                async for frame in self._ws:
                    if isinstance(frame, bytes):
                        self._apply(frame)
            except websockets.ConnectionClosed:
                # Against a cluster pod this Python client was dropped 20-40 s in (TCP EOF, no
                # close frame) while a stock Yjs client on the same document stayed: reported.
                # Resync and go on; the count is printed with the results.
                self.reconnects += 1
                await self._connect()

    def _apply(self, frame: bytes) -> None:
        message = decode(frame)
        if isinstance(message, SyncUpdate | SyncStep2):
            now = time.perf_counter()
            self.doc.apply_update(message.update)
            for sid, entry in self.doc.get("suggestions", type=Map).items():
                fresh = sid not in self.first_text_at and isinstance(entry, Map)
                if fresh and len(entry["proposal"]):
                    self.first_text_at[sid] = now
            self.changed.set()

    async def wait_text(self, sid: str, timeout_s: float = 30.0) -> float:
        async with asyncio.timeout(timeout_s):
            while sid not in self.first_text_at:
                self.changed.clear()
                await self.changed.wait()
        return self.first_text_at[sid]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._ws.close()


class Api:
    """One kept-alive HTTP client: a new httpx client per call costs more (its TLS context)
    than the whole request, and real front ends keep their connections."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.client = httpx.AsyncClient(
            base_url=account.base_url, headers=account.headers, timeout=30.0
        )

    async def ask(self, doc: str, end: int) -> str:
        response = await self.client.post(
            f"/api/docs/{doc}/assist",
            json={"instruction": "rewrite", "mode": "rewrite", "range": {"start": 0, "end": end}},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["suggestion_id"])

    async def wait_all(self, doc_ids: dict[str, str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        remaining = dict(doc_ids)
        while remaining:
            for sid, doc in list(remaining.items()):
                r = await self.client.get(f"/api/docs/{doc}/suggestions/{sid}")
                if r.json()["status"] != "streaming":
                    del remaining[sid]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(remaining)} suggestions did not finish")
            await asyncio.sleep(0.02)

    async def aclose(self) -> None:
        await self.client.aclose()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


Record = Callable[[str], Awaitable[dict[str, Any]]]


@contextlib.asynccontextmanager
async def deployment(
    kind: str, workers: int, model: ModelServer, tmp: Path
) -> AsyncIterator[tuple[TandemProcess, Record]]:
    """Embedded: one ``tandem serve`` with ``workers`` loops. Cluster: one pod on Valkey, S3 and
    the MongoDB wire protocol, plus ``workers`` ``tandem assistant`` processes of one loop."""
    if kind == "embedded":
        async with TandemProcess(tmp / "serve", env=env_for(model, workers)) as server:
            db = sqlite3.connect(tmp / "serve" / "assistant.db")

            async def read_sqlite(sid: str) -> dict[str, Any]:
                row = db.execute(
                    "SELECT data FROM assistant_suggestions WHERE id = ?", (sid,)
                ).fetchone()
                return dict(json.loads(row[0]))

            yield server, read_sqlite
        return
    with (
        running(Valkey(tmp / "valkey")) as valkey,
        running(S3Server(tmp / "s3")) as s3,
        running_mongo(tmp / "mongo") as mongo,
    ):
        env = {
            **env_for(model, 1),
            "TANDEM_REDIS_URL": valkey.url,  # type: ignore[union-attr]
            "TANDEM_S3_ENDPOINT": s3.endpoint,  # type: ignore[union-attr]
            "TANDEM_S3_ACCESS_KEY": s3.access_key,  # type: ignore[union-attr]
            "TANDEM_S3_SECRET_KEY": s3.secret_key,  # type: ignore[union-attr]
            "TANDEM_MONGODB_URL": mongo.url("tandem"),
        }
        async with TandemProcess(tmp / "pod", env={**env, "TANDEM_POD_ID": "pod"}) as server:
            procs = [
                await WorkerProcess(tmp / f"w{i}", {**env, "TANDEM_POD_ID": f"w{i}"}).start()
                for i in range(workers)
            ]
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url("tandem"))

            async def read_mongo(sid: str) -> dict[str, Any]:
                found = await client.get_default_database()["assistant_suggestions"].find_one(
                    {"_id": sid}
                )
                return dict(found or {})

            try:
                yield server, read_mongo
            finally:
                await client.close()
                for proc in procs:
                    await proc.stop()


async def overhead(samples: int, tmp: Path, kind: str = "embedded") -> dict[str, Any]:
    model = ModelServer(
        default=Reply(tokens=["tok "] * 20, rate_per_s=100, first_token_delay_s=0.05)
    )
    async with model, deployment(kind, 4, model, tmp / f"overhead-{kind}") as (server, read):
        alice = await sign_up(server.http_url)
        doc = await alice.create_doc(await alice.create_workspace())
        # One edit through the API is not available to the bench; the text comes from a Yjs
        # update written with a raw client (the server is the source of truth either way).
        await put_text(server, alice, doc, "The quick brown fox jumps over the lazy dog.\n")
        api = Api(alice)
        # Warm every worker (its first job opens the model connection and the documents):
        # the figures are for a running system; a worker's first job costs ~50 ms more.
        warm = await asyncio.gather(*(api.ask(doc, 9) for _ in range(8)))
        await api.wait_all(dict.fromkeys(warm, doc), 30)
        watcher = BoardWatcher(f"{server.ws_url}/{doc}:suggestions?token={alice.token}")
        await watcher.start()
        results: list[float] = []
        totals: list[float] = []
        stages: dict[str, list[float]] = {}
        for _ in range(samples):
            before = len(model.requests)
            sent = time.perf_counter()
            sent_wall = time.time()
            sid = await api.ask(doc, 9)
            visible = await watcher.wait_text(sid)
            visible_wall = time.time() - (time.perf_counter() - visible)
            request = model.requests[before]
            assert request.first_token_at is not None
            model_ttft = request.first_token_at - request.received_at
            total = visible - sent
            totals.append(total * 1000)
            results.append((total - model_ttft) * 1000)
            await api.wait_all({sid: doc}, 30)
            record = await read(sid)
            entry = watcher.doc.get("suggestions", type=Map)[sid]
            worker_first = float(entry["first_token_at"])
            marks = {
                "http_to_record": record["created_at"] - sent_wall,
                "queue": record["started_at"] - record["created_at"],
                "start_to_model": request.received_at - record["started_at"],
                "model_to_worker": worker_first - request.first_token_at,
                "worker_to_visible": visible_wall - worker_first,
            }
            for name, seconds in marks.items():
                stages.setdefault(name, []).append(seconds * 1000)
        await watcher.stop()
        await api.aclose()
    return {
        "deployment": kind,
        "watcher_reconnects": watcher.reconnects,
        "samples": samples,
        "request_to_visible_p50_ms": round(pct(totals, 0.5), 2),
        "overhead_p50_ms": round(pct(results, 0.5), 2),
        "overhead_p99_ms": round(pct(results, 0.99), 2),
        "stages_p50_ms": {k: round(pct(v, 0.5), 2) for k, v in stages.items()},
        "stages_p99_ms": {k: round(pct(v, 0.99), 2) for k, v in stages.items()},
        "slowest_5_ms": {k: [round(x, 1) for x in sorted(v)[-5:]] for k, v in stages.items()},
        "overhead_mean_ms": round(statistics.fmean(results), 2),
    }


async def put_text(server: TandemProcess, account: Account, doc: str, text: str) -> None:
    from pycrdt import Text

    from sync.protocol import SyncUpdate as Update

    local = Doc()
    local.get("content", type=Text).insert(0, text)
    async with websockets.connect(f"{server.ws_url}/{doc}?token={account.token}") as ws:
        await ws.send(encode(Update(local.get_update())))
        await ws.send(encode(SyncStep1(local.get_state())))
        async with asyncio.timeout(10):
            async for frame in ws:  # the server's step 2 comes after our update
                if isinstance(frame, bytes) and isinstance(decode(frame), SyncStep2):
                    break


async def throughput(workers: int, jobs: int, tmp: Path, kind: str = "embedded") -> dict[str, Any]:
    model = ModelServer(default=Reply(tokens=["tok "] * 20, rate_per_s=100))
    where = tmp / f"tp-{kind}-{workers}"
    async with model, deployment(kind, workers, model, where) as (server, _):
        alice = await sign_up(server.http_url)
        ws = await alice.create_workspace()
        docs = [await alice.create_doc(ws) for _ in range(8)]
        for doc in docs:
            await put_text(server, alice, doc, "Some text to rewrite in this document.\n")
        api = Api(alice)
        started = time.perf_counter()
        sids = await asyncio.gather(*(api.ask(docs[i % len(docs)], 9) for i in range(jobs)))
        await api.wait_all({sid: docs[i % len(docs)] for i, sid in enumerate(sids)}, 120)
        elapsed = time.perf_counter() - started
        await api.aclose()
    return {
        "deployment": kind,
        "workers": workers,
        "jobs": jobs,
        "seconds": round(elapsed, 2),
        "suggestions_per_s": round(jobs / elapsed, 2),
        "model_time_per_suggestion_s": 0.19,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--deployment", choices=["embedded", "cluster", "both"], default="embedded")
    args = parser.parse_args()
    kinds = ["embedded", "cluster"] if args.deployment == "both" else [args.deployment]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            print("overhead", await overhead(args.samples, Path(tmp), kind), flush=True)
            for workers in (1, 4):
                result = await throughput(workers, args.jobs, Path(tmp), kind)
                print("throughput", result, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
