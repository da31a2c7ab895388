"""Retrieval over a workspace of 10,000 generated files on the SQLite FTS5 index (issue 24.9):
the time to index them, retrieval p50/p99 for questions and search-box queries, and the time
an edited file takes to be found again (put + search; the follower's refresh period adds up
to TANDEM_SEARCH_REFRESH_INTERVAL_S on a pod). Run by hand: ``python -m bench.search_bench``."""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from assistant.knowledge.index import IndexedFile
from assistant.knowledge.sqlite_index import SqliteIndex

FILES = 10_000
WORDS = [
    "config",
    "parse",
    "render",
    "cache",
    "session",
    "token",
    "request",
    "response",
    "user",
    "workspace",
    "document",
    "queue",
    "worker",
    "retry",
    "timeout",
    "stream",
    "index",
    "query",
    "error",
    "limit",
    "model",
    "answer",
    "thread",
    "suggestion",
    "update",
    "snapshot",
    "lease",
]


def code_file(rng: random.Random, n: int) -> str:
    lines = [f'"""Module {n}: {" ".join(rng.sample(WORDS, 6))}."""', "import os", ""]
    for f in range(rng.randint(3, 12)):
        a, b = rng.sample(WORDS, 2)
        lines += [
            f"def {a}_{b}_{n}_{f}({rng.choice(WORDS)}, {rng.choice(WORDS)}):",
            f"    # {' '.join(rng.choices(WORDS, k=8))}",
            f"    value = {rng.choice(WORDS)}Helper({a}).{b}()",
            f"    return value or {rng.randint(0, 999)}",
            "",
        ]
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    rng = random.Random(24)
    texts = [code_file(rng, n) for n in range(FILES)]
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteIndex(Path(tmp) / "search.db") as index:
            began = time.perf_counter()
            for n, text in enumerate(texts):
                await index.put(
                    IndexedFile("w", f"f{n}", f"d{n}", f"src/pkg{n % 50}/m{n}.py"), text
                )
            indexed_s = time.perf_counter() - began
            from assistant.knowledge.passages import question_query, search_query

            for name, make in (("question", question_query), ("search box", search_query)):
                took: list[float] = []
                for _ in range(300):
                    q = " ".join(rng.sample(WORDS, 3))
                    text = f"where do we {q}?" if make is question_query else q
                    t = time.perf_counter()
                    await index.search("w", make(text), limit=30)
                    took.append((time.perf_counter() - t) * 1000)
                print(
                    f"{name}: p50 {statistics.median(took):.2f} ms, "
                    f"p99 {percentile(took, 0.99):.2f} ms over {len(took)} queries"
                )
            shows: list[float] = []
            for k in range(50):
                t = time.perf_counter()
                await index.put(
                    IndexedFile("w", "f7", "d7", "src/pkg7/m7.py"), texts[7] + f"\nzq{k}x"
                )
                found = await index.search("w", search_query(f"zq{k}x"), limit=5)
                assert found and found[0].file_id == "f7"
                shows.append((time.perf_counter() - t) * 1000)
            print(f"indexing {FILES} files: {indexed_s:.1f} s ({FILES / indexed_s:.0f} files/s)")
            print(
                f"an edit shows (put + search): p50 {statistics.median(shows):.2f} ms, "
                f"p99 {percentile(shows, 0.99):.2f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
