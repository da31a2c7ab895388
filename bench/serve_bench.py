"""Model server benchmark, run by hand:

    .venv/bin/python bench/serve_bench.py [--requests 200] [--max-tokens 16]

The overhead of ``tandem model serve`` to the first token: the same tiny chat model (built at
run time, ``tests/tiny_model.py``), the same prompt, greedy decoding, many requests one after
another, for the base and for a LoRA adapter.

- direct: in this process, ``apply_chat_template`` + ``model.generate`` on a thread with
  transformers' ``TextIteratorStreamer``; the time from the call to the first text piece.
- served: the real ``tandem model serve`` on a loopback port, a streamed chat completion over
  httpx; the time from sending the request to the first chunk with content.

Both are timed to the first *text*: the streamer holds tokens back until a word ends, on both
paths alike. The paths take turns in blocks (``--rounds``), each block after a few untimed
requests: request by request, one process's OpenMP threads, still spinning after their last
matmul, slowed the other's next request by several milliseconds. Prints p50 and p99 of each
path and their difference, pooled and paired (the median of the rounds' own differences).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drive.local_objects import LocalObjectStore
from learning import models
from learning.artifacts import (
    ADAPTER_DIGESTS,
    ADAPTER_FILES,
    AdapterName,
    adapter_digests,
    write_manifest,
)
from server.learning import ObjectDatasets
from tests.server_proc import TandemProcess, free_port
from tests.tiny_model import build_tiny_model

PROMPT = [
    {"role": "system", "content": "You rewrite text. Reply with the replacement only."},
    {"role": "user", "content": "The meeting is on Monday. Please call me at the office."},
]
ADAPTER = "bench/run1"


def build(root: Path) -> tuple[Path, Path]:
    """A tiny base that speaks (its layers' outputs scaled up, as in the tests) and an
    adapter of noise."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base_dir = build_tiny_model(root / "base")
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                weight.mul_(10)
    model.save_pretrained(base_dir)
    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"]),
    )
    noise = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, weight in peft_model.named_parameters():
            if "lora_" in name:
                weight.copy_(torch.randn(weight.shape, generator=noise) * 0.3)
    peft_model.save_pretrained(root / "adapter")
    return base_dir, root / "adapter"


class Direct:
    """transformers without a server: what the overhead is measured against."""

    def __init__(self, base_dir: Path, adapter_dir: Path) -> None:
        from peft import PeftModel

        base = models.resolve(str(base_dir))
        self.tokenizer = models.load_tokenizer(base)
        # The base as the server has it until its first adapter loads: no LoRA layers.
        self.base = models.load_model(base).eval()
        self.peft = PeftModel.from_pretrained(
            models.load_model(base), str(adapter_dir), adapter_name="bench"
        ).eval()

    def first_token_s(self, adapter: bool, max_tokens: int) -> tuple[float, str]:
        import torch
        from transformers import TextIteratorStreamer

        started = time.perf_counter()
        encoded = self.tokenizer.apply_chat_template(
            PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)

        def generate() -> None:
            model = self.peft if adapter else self.base
            with torch.inference_mode():
                model.generate(
                    **encoded,
                    streamer=streamer,
                    max_new_tokens=max_tokens,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=self.tokenizer.pad_token_id,
                )

        thread = threading.Thread(target=generate)
        thread.start()
        first, text = None, []
        for piece in streamer:
            if piece and first is None:
                first = time.perf_counter() - started
            text.append(piece)
        thread.join()
        assert first is not None, "the model said nothing"
        return first, "".join(text)


async def served_first_token_s(
    client: httpx.AsyncClient, model: str, max_tokens: int
) -> tuple[float, str]:
    body = {
        "model": model,
        "messages": PROMPT,
        "stream": True,
        "temperature": 0,
        "max_tokens": max_tokens,
    }
    started = time.perf_counter()
    first, text = None, []
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line.removeprefix("data: "))["choices"]
            content = choices[0]["delta"].get("content") if choices else None
            if content:
                if first is None:
                    first = time.perf_counter() - started
                text.append(content)
    assert first is not None, "the server said nothing"
    return first, "".join(text)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=8, help="blocks of each path, in turn")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per block")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument(
        "--threads", type=int, help="torch threads of both paths (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the server inherits it
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        base_dir, adapter_dir = build(root)
        base = models.resolve(str(base_dir))
        objects = ObjectDatasets(LocalObjectStore(root / "data" / "objects"))
        name = AdapterName.parse(ADAPTER)
        files = {file: (adapter_dir / file).read_bytes() for file in ADAPTER_FILES}
        for file, data in files.items():
            await objects.write(name.adapter_key(file), data)
        await write_manifest(
            objects,
            name,
            {
                "base_model": base.id,
                "base_revision": base.revision,
                ADAPTER_DIGESTS: adapter_digests(files),
            },
        )
        direct = Direct(base_dir, adapter_dir)
        env = {
            "TANDEM_BASE_MODEL": str(base_dir),
            "TANDEM_MODEL_CACHE_DIR": str(root / "cache"),
            "TANDEM_LOG_LEVEL": "warning",
        }
        port = free_port()
        command = ("model", "serve", "--port", str(port))
        async with (
            TandemProcess(root / "data", env, port, command) as proc,
            httpx.AsyncClient(base_url=proc.http_url, timeout=30) as client,
        ):
            print(
                f"tiny Llama (hidden 64, 2 layers), greedy, {args.max_tokens} new tokens, "
                f"{args.requests} requests each; torch threads {os_threads()}"
            )
            print(f"{'model':<8} {'path':<8} {'p50 ms':>8} {'p99 ms':>8}")
            for label, model, adapter in (("base", base.id, False), ("adapter", ADAPTER, True)):
                rounds: list[dict[str, list[float]]] = []
                texts: set[str] = set()
                for _ in range(args.rounds):
                    times: dict[str, list[float]] = {"direct": [], "served": []}
                    for path in ("direct", "served"):
                        for i in range(args.warmup + args.requests // args.rounds):
                            if path == "direct":
                                first, text = direct.first_token_s(adapter, args.max_tokens)
                            else:
                                first, text = await served_first_token_s(
                                    client, model, args.max_tokens
                                )
                            texts.add(text)
                            if i >= args.warmup:
                                times[path].append(first)
                    rounds.append(times)
                assert len(texts) == 1, texts  # the same answer on both paths
                report(label, rounds)


def report(label: str, rounds: list[dict[str, list[float]]]) -> None:
    """Pooled percentiles, and the median over rounds of each round's own difference (the
    paths ran side by side then, under the same load from the rest of the machine)."""
    pooled = {path: [t for r in rounds for t in r[path]] for path in ("direct", "served")}
    for path, values in pooled.items():
        print(
            f"{label:<8} {path:<8} {1000 * percentile(values, 0.5):8.2f} "
            f"{1000 * percentile(values, 0.99):8.2f}"
        )
    p50, p99 = (
        1000 * (percentile(pooled["served"], q) - percentile(pooled["direct"], q))
        for q in (0.5, 0.99)
    )
    paired = [
        statistics.median(
            1000 * (percentile(r["served"], q) - percentile(r["direct"], q)) for r in rounds
        )
        for q in (0.5, 0.99)
    ]
    print(f"{label:<8} {'overhead':<8} {p50:8.2f} {p99:8.2f}")
    print(f"{label:<8} {'paired':<8} {paired[0]:8.2f} {paired[1]:8.2f}")


def os_threads() -> Any:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    asyncio.run(main())
