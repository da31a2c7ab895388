"""Threads benchmark (issue 24.9), run by hand:

    .venv/bin/python -m bench.thread_bench [--samples 100] [--files 300]

One ``tandem serve`` (embedded: in-process answer loops, SQLite FTS5 search) with a scripted
OpenAI-compatible model; a workspace of ``--files`` text files the answers retrieve from; a
second member watches the thread's live document over /sync. For each question: the time from
sending the POST to the answer's first text visible at the watcher, minus the model's own time
to first token (from receiving the request to sending its first chunk). So the overhead covers
the HTTP request, the store, the queue, the prompt with the workspace's retrieved passages,
and the fan-out to the watcher. p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pycrdt import Map

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.assist_bench import BoardWatcher, env_for, pct
from sync.protocol import SyncStep2, SyncUpdate, decode
from tests.accounts import sign_up
from tests.modelserver import ModelServer, Reply
from tests.server_proc import TandemProcess

WORDS = [
    "config",
    "parse",
    "render",
    "page",
    "user",
    "token",
    "cache",
    "queue",
    "worker",
    "model",
    "answer",
    "thread",
]


class ThreadWatcher(BoardWatcher):
    """Notes when each answer in the thread's live document first has text."""

    def _apply(self, frame: bytes) -> None:
        message = decode(frame)
        if isinstance(message, SyncUpdate | SyncStep2):
            now = time.perf_counter()
            self.doc.apply_update(message.update)
            for mid, entry in self.doc.get("messages", type=Map).items():
                fresh = mid not in self.first_text_at and isinstance(entry, Map)
                if fresh and entry["role"] == "assistant" and len(entry["text"]):
                    self.first_text_at[mid] = now
            self.changed.set()


def source_file(rng: random.Random, n: int) -> str:
    lines = [f"def {rng.choice(WORDS)}_{n}_{i}({rng.choice(WORDS)}):" for i in range(30)]
    return "\n".join(f"{line}\n    return {rng.choice(WORDS)}" for line in lines) + "\n"


async def overhead(samples: int, files: int, tmp: Path) -> dict[str, Any]:
    model = ModelServer(default=Reply(tokens=["An ", "answer ", "[1]."], rate_per_s=200))
    async with model, TandemProcess(tmp / "serve", env=env_for(model, 2)) as server:
        alice, bob = await sign_up(server.http_url), await sign_up(server.http_url)
        ws = await alice.create_workspace()
        await alice.add_member(ws, bob, "editor")
        rng = random.Random(24)
        async with httpx.AsyncClient(
            base_url=server.http_url, headers=alice.headers, timeout=30.0
        ) as api:
            for n in range(files):
                created = await api.post(
                    f"/api/workspaces/{ws}/drive/files",
                    json={"name": f"mod{n}.py", "text": source_file(rng, n)},
                )
                assert created.status_code == 201, created.text
            thread = (
                await api.post(f"/api/workspaces/{ws}/threads", json={"title": "bench"})
            ).json()
            messages = f"/api/workspaces/{ws}/threads/{thread['id']}/messages"

            async def ask(text: str) -> str:
                response = await api.post(messages, json={"text": text, "ask": True})
                assert response.status_code == 201, response.text
                return str(response.json()["answer"]["id"])

            async def settled(answer_id: str) -> None:
                deadline = time.monotonic() + 30
                while True:
                    page = (await api.get(messages, params={"limit": 200})).json()["messages"]
                    if next(m for m in page if m["id"] == answer_id)["status"] != "streaming":
                        return
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)

            # Warm the loops, the model connection and the workspace's first full indexing.
            for _ in range(3):
                await settled(await ask("where is the config parsed?"))
            watcher = ThreadWatcher(f"{server.ws_url}/{thread['live_doc']}?token={bob.token}")
            await watcher.start()
            totals: list[float] = []
            results: list[float] = []
            for i in range(samples):
                before = len(model.requests)
                sent = time.perf_counter()
                answer_id = await ask(
                    f"how does {rng.choice(WORDS)}_{rng.randrange(files)} use the"
                    f" {rng.choice(WORDS)}? ({i})"
                )
                visible = await watcher.wait_text(answer_id)
                request = model.requests[before]
                assert request.first_token_at is not None
                model_ttft = request.first_token_at - request.received_at
                totals.append((visible - sent) * 1000)
                results.append((visible - sent - model_ttft) * 1000)
                await settled(answer_id)
            system = model.requests[-1].body["messages"][0]["content"]
            await watcher.stop()
            stages = await stage_means(api)
    return {
        "samples": samples,
        "files": files,
        "passages_in_last_prompt": system.count("<passage "),
        "post_to_visible_p50_ms": round(pct(totals, 0.5), 2),
        "overhead_p50_ms": round(pct(results, 0.5), 2),
        "overhead_p99_ms": round(pct(results, 0.99), 2),
        "overhead_max_ms": round(max(results), 2),
        "worker_stage_means_ms": stages,
    }


async def stage_means(api: httpx.AsyncClient) -> dict[str, float]:
    """Mean of each thread histogram the server exports, over the whole run (warm-up too)."""
    text = (await api.get("/metrics")).text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("tandem_thread_") and name.endswith("_seconds_sum"):
            sums[name.removesuffix("_sum")] = float(value)
        if name.startswith("tandem_thread_") and name.endswith("_seconds_count"):
            counts[name.removesuffix("_count")] = float(value)
    return {k: round(1000 * v / counts[k], 2) for k, v in sums.items() if counts.get(k)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(overhead(args.samples, args.files, Path(tmp))), indent=2))


if __name__ == "__main__":
    main()
