"""One LoRA training, in a process of its own: ``python -m learning.train_step WORKDIR``, or
``torchrun --nproc-per-node N -m learning.train_step WORKDIR`` for data parallel on a
multi-GPU node (TRL's trainers run under torchrun as they are).

WORKDIR holds what the local trainer (``trainers/local.py``) wrote for it:

    job.json          method, base model (id, revision, path), LoRA and training settings,
                      and the checkpoint to resume from (or null)
    train.jsonl       the dataset's training lines, in OpenAI's formats
    validation.jsonl  its held-out lines (may be empty)

and gets back ``adapter/`` (safetensors + adapter config), ``result.json`` (loss per step,
eval loss, tokens/s, steps) and, while it trains, ``checkpoints/checkpoint-{step}/``. Rank 0
prints one JSON object a line on stdout as things happen: ``{"event": "log", ...}`` (step,
loss, tokens/s, ETA), ``{"event": "checkpoint", "path", "step"}`` after each save, and
``{"event": "done"}``. The configs are TRL's ``SFTConfig``/``DPOConfig`` and PEFT's
``LoraConfig``, built here in one place; then one trainer call."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def emit(event: str, **fields: Any) -> None:
    if _rank() == 0:
        print(json.dumps({"event": event, **fields}), flush=True)


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sft_rows(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"messages": line["messages"]} for line in lines]


def preference_rows(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI's preference lines as TRL's conversational preference rows."""
    return [
        {
            "prompt": line["input"]["messages"],
            "chosen": line["preferred_output"],
            "rejected": line["non_preferred_output"],
        }
        for line in lines
    ]


def lora_config(job: dict[str, Any]) -> Any:
    from peft import LoraConfig

    lora = job["lora"]
    targets = lora["target_modules"]
    return LoraConfig(
        r=lora["rank"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=targets if targets == "all-linear" else targets.split(","),
        task_type="CAUSAL_LM",
    )


def trainer_config(job: dict[str, Any], workdir: Path, has_eval: bool, on_cpu: bool) -> Any:
    from trl import DPOConfig, SFTConfig

    train = job["train"]
    common: dict[str, Any] = {
        "output_dir": str(workdir / "checkpoints"),
        "num_train_epochs": train["epochs"],
        "learning_rate": train["learning_rate"],
        "per_device_train_batch_size": train["batch_size"],
        "per_device_eval_batch_size": train["batch_size"],
        "gradient_accumulation_steps": train["gradient_accumulation"],
        "max_length": train["max_length"],
        "seed": train["seed"],
        "logging_steps": 1,
        "save_total_limit": 2,  # the previous one stays while the newest is uploaded
        "report_to": [],
        "disable_tqdm": True,
        "use_cpu": on_cpu,
        "bf16": not on_cpu and train.get("bf16", True),
        "eval_strategy": "epoch" if has_eval else "no",
    }
    if train.get("save_steps"):
        common.update(save_strategy="steps", save_steps=train["save_steps"])
    else:
        common["save_strategy"] = "epoch"  # LESSONS: a checkpoint per epoch
    if job["method"] == "dpo":
        return DPOConfig(beta=train["beta"], **common)
    return SFTConfig(**common)


def progress_callback() -> Any:
    from transformers import TrainerCallback

    class Watch(TrainerCallback):  # type: ignore[misc]
        """What a person watches, through the trainer's own callback hooks."""

        def __init__(self) -> None:
            self.started = time.monotonic()
            self.first_step: int | None = None
            self.first_tokens = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.monotonic()
            self.first_step = state.global_step
            self.first_tokens = float(getattr(state, "num_input_tokens_seen", 0) or 0)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if not logs or "loss" not in logs:
                return
            elapsed = max(time.monotonic() - self.started, 1e-9)
            done = state.global_step - (self.first_step or 0)
            tokens = float(logs.get("num_tokens") or 0) - self.first_tokens
            eta = (state.max_steps - state.global_step) * elapsed / done if done else None
            emit(
                "log",
                step=state.global_step,
                total_steps=state.max_steps,
                epoch=round(float(state.epoch or 0), 4),
                loss=float(logs["loss"]),
                tokens_per_s=round(tokens / elapsed, 1) if tokens > 0 else None,
                eta_s=round(eta, 1) if eta is not None else None,
            )

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            emit("checkpoint", path=str(path), step=state.global_step)

    return Watch()


def train(workdir: Path) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers.utils import logging as hf_logging
    from trl import DPOTrainer, SFTTrainer

    from . import models

    hf_logging.set_verbosity_error()
    job = json.loads((workdir / "job.json").read_text())
    base = models.BaseModel(**job["base"])
    on_cpu = not torch.cuda.is_available()
    tokenizer = models.load_tokenizer(base)
    # Under torchrun each process takes its own GPU; Trainer places the model.
    model = models.load_model(
        base, device_name="cpu" if on_cpu else None, quantize_4bit=job["train"].get("qlora", False)
    )
    lines = read_lines(workdir / "train.jsonl")
    held_out = read_lines(workdir / "validation.jsonl")
    rows = preference_rows if job["method"] == "dpo" else sft_rows
    train_set = Dataset.from_list(rows(lines))
    eval_set = Dataset.from_list(rows(held_out)) if held_out else None
    kind = DPOTrainer if job["method"] == "dpo" else SFTTrainer
    # DPO with a PEFT model uses the base with adapters off as its reference: no second copy.
    trainer = kind(
        model=model,
        args=trainer_config(job, workdir, eval_set is not None, on_cpu),
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=lora_config(job),
        callbacks=[progress_callback()],
    )
    started = time.monotonic()
    output = trainer.train(resume_from_checkpoint=job.get("resume"))
    runtime = time.monotonic() - started
    trainer.save_model(str(workdir / "adapter"))
    history = trainer.state.log_history
    tokens = max((float(h.get("num_tokens") or 0) for h in history), default=0.0)
    result = {
        "loss": [
            {"step": h["step"], "loss": round(float(h["loss"]), 6), "epoch": h.get("epoch")}
            for h in history
            if "loss" in h
        ],
        "eval_loss": [
            {"step": h["step"], "loss": round(float(h["eval_loss"]), 6), "epoch": h.get("epoch")}
            for h in history
            if "eval_loss" in h
        ],
        "train_loss": float(output.training_loss),
        "steps": trainer.state.global_step,
        "resumed_from": job.get("resume_step") or 0,
        "runtime_s": round(runtime, 3),
        "tokens": tokens,
        "tokens_per_s": round(tokens / runtime, 1) if tokens and runtime else None,
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "device": "cpu" if on_cpu else torch.cuda.get_device_name(0),
    }
    if _rank() == 0:
        (workdir / "result.json").write_text(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m learning.train_step WORKDIR", file=sys.stderr)
        return 2
    train(Path(args[0]))
    emit("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
