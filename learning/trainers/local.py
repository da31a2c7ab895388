"""The ``local`` trainer: TRL + PEFT LoRA in this pod, the adapter in object storage.

Training runs in a child process (``learning/train_step.py``), started directly or, with
``processes`` > 1, under ``torchrun`` for data parallel on a multi-GPU node. Its JSON lines
come back here: progress goes to the pipeline, and each checkpoint is copied to object
storage (``models/{ws}/{run}/checkpoint/{step}/``, its ``index.json`` written last), so a pod
killed mid-training resumes on retry from the newest checkpoint of the same dataset and base.
The finished adapter and its manifest go to ``models/{ws}/{run}/``; the checkpoints then go.

The child keeps torch out of this process (a trainer's memory is returned when it exits) and
is killed with it: on Linux it asks the kernel for SIGKILL when its parent dies."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..artifacts import (
    ADAPTER_DIGESTS,
    ADAPTER_FILES,
    AdapterName,
    Objects,
    adapter_digests,
    write_manifest,
)
from ..models import BaseModel
from . import Progress, TrainingError, TrainingRequest, TrainingResult

log = logging.getLogger(__name__)

_INDEX = "index.json"
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"


@dataclass(frozen=True)
class TrainSettings:
    epochs: float = 3.0
    learning_rate: float = 2e-4
    batch_size: int = 4
    gradient_accumulation: int = 1
    max_length: int = 2048
    beta: float = 0.1
    seed: int = 0
    qlora: bool = False
    save_steps: int = 0
    """0: a checkpoint per epoch."""


@dataclass(frozen=True)
class LocalConfig:
    base: BaseModel
    work_dir: Path
    lora: LoraSettings = LoraSettings()
    train: TrainSettings = TrainSettings()
    processes: int = 1
    """Processes (GPUs) for one workspace's training: above 1, torchrun launches them."""


class LocalTrainer:
    name = "local"

    def __init__(self, config: LocalConfig, objects: Objects) -> None:
        self.config = config
        self._objects = objects

    async def train(self, request: TrainingRequest, progress: Progress) -> TrainingResult:
        name = AdapterName(request.workspace_id, request.run)
        workdir = self.config.work_dir / request.workspace_id / request.run
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        (workdir / "train.jsonl").write_bytes(request.train)
        (workdir / "validation.jsonl").write_bytes(request.validation)
        resume_step = await self._restore(name, request, workdir)
        job = self._job(request, workdir, resume_step)
        (workdir / "job.json").write_text(json.dumps(job, indent=2))
        if resume_step:
            await progress({"resumed_from_step": resume_step})
        await self._run_child(name, request, workdir, progress)
        result = json.loads((workdir / "result.json").read_text())
        adapter = {file: (workdir / "adapter" / file).read_bytes() for file in ADAPTER_FILES}
        for file, data in adapter.items():
            await self._objects.write(name.adapter_key(file), data)
        details = {
            "trainer": self.name,
            "base_model": self.config.base.id,
            "base_revision": self.config.base.revision,
            "method": request.method,
            "dataset_sha256": request.dataset_sha256,
            "hyperparameters": {
                "lora": asdict(self.config.lora),
                "train": asdict(self.config.train),
            },
            "processes": self.config.processes,
            **result,
        }
        await write_manifest(
            self._objects,
            name,
            {
                "adapter": str(name),
                "created_at": time.time(),
                ADAPTER_DIGESTS: adapter_digests(adapter),
                **details,
            },
        )
        await self._objects.delete_prefix(name.key("checkpoint"))
        shutil.rmtree(workdir, ignore_errors=True)
        return TrainingResult(str(name), details)

    def _job(self, request: TrainingRequest, workdir: Path, resume_step: int) -> dict[str, Any]:
        return {
            "method": request.method,
            "base": asdict(self.config.base),
            "lora": asdict(self.config.lora),
            "train": asdict(self.config.train),
            "resume": str(workdir / "resume" / f"checkpoint-{resume_step}")
            if resume_step
            else None,
            "resume_step": resume_step,
        }

    def _command(self, workdir: Path) -> list[str]:
        if self.config.processes > 1:
            return [
                sys.executable,
                "-m",
                "torch.distributed.run",
                f"--nproc-per-node={self.config.processes}",
                "-m",
                "learning.train_step",
                str(workdir),
            ]
        return [sys.executable, "-m", "learning.train_step", str(workdir)]

    async def _run_child(
        self, name: AdapterName, request: TrainingRequest, workdir: Path, progress: Progress
    ) -> None:
        stderr_path = workdir / "train.log"
        with stderr_path.open("wb") as stderr:
            child = await asyncio.create_subprocess_exec(
                *self._command(workdir),
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                preexec_fn=_die_with_parent,
            )
            try:
                assert child.stdout is not None
                async for raw in child.stdout:
                    event = _event(raw)
                    if event is None:
                        continue
                    kind = event.pop("event")
                    if kind == "log":
                        await progress(event)
                    elif kind == "checkpoint":
                        await self._store_checkpoint(
                            name, request, Path(event["path"]), event["step"]
                        )
                code = await child.wait()
            finally:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
        if code != 0:
            tail = stderr_path.read_bytes()[-_STDERR_TAIL:].decode(errors="replace")
            raise TrainingError(f"training exited with {code}: {tail.strip()}")

    async def _store_checkpoint(
        self, name: AdapterName, request: TrainingRequest, path: Path, step: int
    ) -> None:
        if not path.is_dir():
            log.warning("checkpoint %s is gone before it was stored", path)
            return
        files = sorted(p.name for p in path.iterdir() if p.is_file())
        for file in files:
            await self._objects.write(
                name.checkpoint_key(f"{step}/{file}"), (path / file).read_bytes()
            )
        previous = await self._index(name)
        index = {
            "step": step,
            "files": files,
            "dataset_sha256": request.dataset_sha256,
            "base_revision": self.config.base.revision,
            "stored_at": time.time(),
        }
        await self._objects.write(name.checkpoint_key(_INDEX), json.dumps(index).encode())
        if previous is not None and previous["step"] != step:
            await self._objects.delete_prefix(name.checkpoint_key(str(previous["step"])))
        log.info("stored checkpoint %s of %s", step, name)

    async def _index(self, name: AdapterName) -> dict[str, Any] | None:
        raw = await self._objects.read(name.checkpoint_key(_INDEX))
        return None if raw is None else dict(json.loads(raw))

    async def _restore(self, name: AdapterName, request: TrainingRequest, workdir: Path) -> int:
        """Copies the newest checkpoint of this very dataset and base; its step, or 0."""
        index = await self._index(name)
        if index is None:
            return 0
        same = (index.get("dataset_sha256"), index.get("base_revision")) == (
            request.dataset_sha256,
            self.config.base.revision,
        )
        if not same:
            log.info("checkpoint of %s is of another dataset or base: starting over", name)
            return 0
        step = int(index["step"])
        target = workdir / "resume" / f"checkpoint-{step}"
        target.mkdir(parents=True)
        for file in index["files"]:
            data = await self._objects.read(name.checkpoint_key(f"{step}/{file}"))
            if data is None:
                log.warning("checkpoint %s of %s lacks %s: starting over", step, name, file)
                return 0
            (target / file).write_bytes(data)
        log.info("resuming %s from checkpoint %s", name, step)
        return step


def _event(raw: bytes) -> dict[str, Any] | None:
    """The child's JSON lines; anything else a library printed is passed over."""
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
