"""Issue 22: training throughput of Tandem's local trainer against a plain TRL script, same
model, data and config, same machine, in alternating rounds.

    .venv/bin/python bench/train_bench.py [--rounds 3] [--examples 64] [--epochs 2]

Both sides train a LoRA adapter with TRL's SFTTrainer on a small Llama made here (hidden 256,
4 layers; no download). Ours goes through ``LocalTrainer.train`` (dataset files, the child
process, progress lines, checkpoint copies into object storage, the adapter and manifest
stored); the plain script calls SFTTrainer as TRL's docs show. Throughput is what TRL counts
(``num_tokens``) over the time ``trainer.train()`` took, in each process, so the ratio is of
the training itself with our callbacks and checkpoint copies in it; start-up (imports, model
load) is shown apart. Goal: ours / plain >= 0.95."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLAIN = """
import json, sys, time
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer
base, data, out, epochs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rows = [json.loads(line) for line in open(data)]
tokenizer = AutoTokenizer.from_pretrained(base)
model = AutoModelForCausalLM.from_pretrained(base)
trainer = SFTTrainer(
    model=model,
    args=SFTConfig(output_dir=out, num_train_epochs=epochs, learning_rate=2e-4,
                   per_device_train_batch_size=4, max_length=2048, logging_steps=1,
                   save_strategy="epoch", save_total_limit=2, report_to=[], use_cpu=True,
                   disable_tqdm=True, bf16=False),
    train_dataset=Dataset.from_list(rows),
    processing_class=tokenizer,
    peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                           target_modules="all-linear", task_type="CAUSAL_LM"),
)
started = time.monotonic()
trainer.train()
runtime = time.monotonic() - started
tokens = max(float(h.get("num_tokens") or 0) for h in trainer.state.log_history)
trainer.save_model(out + "/adapter")
print(json.dumps({"tokens": tokens, "runtime_s": runtime}))
"""


def make_base(directory: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.tiny_model import build_tiny_model

    path = build_tiny_model(directory / "base", corpus())
    config = LlamaForCausalLM.from_pretrained(path).config.to_dict()
    bigger = LlamaConfig(
        **{
            **config,
            "hidden_size": 256,
            "intermediate_size": 704,
            "num_hidden_layers": 4,
            "num_attention_heads": 8,
            "num_key_value_heads": 4,
        }
    )
    torch.manual_seed(0)
    LlamaForCausalLM(bigger).save_pretrained(path)
    return path


def corpus() -> list[str]:
    return [f"Line {i}: teh report was shiped on monday, said team {i}." for i in range(64)]


def dataset(count: int) -> bytes:
    lines = []
    for i in range(count):
        text = corpus()[i % 64]
        lines.append(
            {
                "messages": [
                    {"role": "system", "content": "You rewrite text. Reply with the fix only."},
                    {"role": "user", "content": f"Fix the spelling:\n{text}"},
                    {
                        "role": "assistant",
                        "content": text.replace("teh", "the")
                        .replace("shiped", "shipped")
                        .replace("monday", "Monday"),
                    },
                ]
            }
        )
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def plain_round(base: Path, data: Path, work: Path, epochs: float) -> dict[str, Any]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", PLAIN, str(base), str(data), str(work), str(epochs)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - started
    return result


def ours_round(base: Path, train: bytes, work: Path, epochs: float) -> dict[str, Any]:
    from drive.local_objects import LocalObjectStore
    from learning.dataset import sha256
    from learning.models import resolve
    from learning.trainers import TrainingRequest
    from learning.trainers.local import LocalConfig, LocalTrainer, TrainSettings
    from server.learning import ObjectDatasets

    trainer = LocalTrainer(
        LocalConfig(
            base=resolve(str(base)), work_dir=work / "runs", train=TrainSettings(epochs=epochs)
        ),
        ObjectDatasets(LocalObjectStore(work / "objects")),
    )
    request = TrainingRequest("bench", "run", "supervised", train, b"", sha256(train))

    async def progress(_: dict[str, Any]) -> None:
        return None

    started = time.monotonic()
    result = asyncio.run(trainer.train(request, progress))
    details = result.details
    return {
        "tokens": details["tokens"],
        "runtime_s": details["runtime_s"],
        "wall_s": time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--epochs", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        base = make_base(root)
        train = dataset(args.examples)
        data = root / "train.jsonl"
        data.write_bytes(train)
        rows: dict[str, list[dict[str, Any]]] = {"ours": [], "plain": []}
        for round_no in range(args.rounds):
            order = ("ours", "plain") if round_no % 2 == 0 else ("plain", "ours")
            for side in order:
                work = root / f"{side}-{round_no}"
                work.mkdir()
                if side == "ours":
                    rows[side].append(ours_round(base, train, work, args.epochs))
                else:
                    rows[side].append(plain_round(base, data, work, args.epochs))
                got = rows[side][-1]
                print(
                    f"round {round_no} {side:5s}: {got['tokens'] / got['runtime_s']:8.0f} tok/s"
                    f"  train {got['runtime_s']:.2f} s  wall {got['wall_s']:.2f} s",
                    flush=True,
                )
    rate = {s: [r["tokens"] / r["runtime_s"] for r in rows[s]] for s in rows}
    paired = [o / p for o, p in zip(rate["ours"], rate["plain"], strict=True)]
    print()
    print("| figure | ours | plain TRL | ratio |")
    print("|---|---|---|---|")
    ours, plain = statistics.median(rate["ours"]), statistics.median(rate["plain"])
    print(f"| tokens/s (median) | {ours:.0f} | {plain:.0f} | {ours / plain:.3f} |")
    print(f"| tokens/s, paired rounds | | | {statistics.median(paired):.3f} |")
    wall_o = statistics.median(r["wall_s"] for r in rows["ours"])
    wall_p = statistics.median(r["wall_s"] for r in rows["plain"])
    print(f"| wall time per run, s | {wall_o:.2f} | {wall_p:.2f} | {wall_o / wall_p:.3f} |")


if __name__ == "__main__":
    main()
