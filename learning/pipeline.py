"""One day's run of the learning loop for one workspace, resumable and idempotent per
(workspace, day):

    label outcomes -> enough new examples? -> dataset + manifest stored in object storage
    -> the trainer (the port in ``trainers/``) -> register the candidate
    -> replay the held-out set through the serving path, candidate vs current -> promote or not

The dataset is stored before any trainer is called, and a rerun trains from the stored
files, so a resumed run trains on exactly what the first attempt did. A rerun the same day
finds the run record: a finished run does nothing, one that was training calls the trainer
again (which resumes), a failed one tries again up to ``max_attempts``."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from assistant.records import Records
from assistant.threads.store import ThreadStore

from .dataset import Dataset, DatasetLimits, build, labelled, sha256, validate_file
from .evaluation import Answerer, AnswerError, HeldOut, Scores, evaluate
from .labelling import DocumentSource, label_workspace
from .registry import ModelRegistry
from .store import LearningStore, Run, RunState
from .thread_examples import thread_outcomes
from .trainers import Trainer, TrainingError, TrainingRequest, TrainingResult

log = logging.getLogger(__name__)

DATASET_FILES = ("sft-train", "sft-validation", "preference-train", "preference-validation")
_PROGRESS_SAVE_S = 2.0
_CURVE_POINTS = 500


class Workspaces(Protocol):
    async def workspace(self, workspace_id: Any) -> Any:
        """The directory's Workspace (with ``allow_training``) or None."""
        ...


class Datasets(Protocol):
    """Where datasets and manifests are kept (the server adapts its object storage)."""

    async def write(self, key: str, data: bytes) -> None: ...

    async def read(self, key: str) -> bytes | None:
        """None when there is no such object."""
        ...


@dataclass(frozen=True)
class RunConfig:
    base_model: str
    """The base as the serving path names it: what the assistant asks for with no adapter."""
    method: str = "supervised"
    min_examples: int = 50
    settle_s: float = 24 * 3600.0
    limits: DatasetLimits = field(default_factory=DatasetLimits)
    eval_examples: int = 50
    promote_margin: float = 0.0
    max_attempts: int = 3
    serve_wait_s: float = 120.0
    """How long the gate waits for the serving path to know a new adapter (vLLM's sidecar
    copies adapters every half minute)."""


Watcher = Callable[[str, dict[str, Any]], Awaitable[None] | None]
"""Shown each progress event with its workspace: a progress bar or a JSON log line."""


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def dataset_prefix(workspace_id: str) -> str:
    return f"learning/{workspace_id}"


class Pipeline:
    def __init__(
        self,
        *,
        config: RunConfig,
        directory: Workspaces,
        records: Records,
        store: LearningStore,
        source: DocumentSource,
        objects: Datasets,
        trainer: Trainer,
        answerer: Answerer,
        watch: Watcher | None = None,
        threads: ThreadStore | None = None,
    ) -> None:
        self.config = config
        self._directory = directory
        self._records = records
        self._store = store
        self._source = source
        self._objects = objects
        self._trainer = trainer
        self._answerer = answerer
        self._watch = watch
        self._threads = threads
        self.registry = ModelRegistry(store, cache_s=0.0)

    # -- the run -----------------------------------------------------------------------------

    async def run(self, workspace_id: str, day: str | None = None) -> Run:
        day = day or today()
        workspace = await self._directory.workspace(workspace_id)
        if workspace is None or not workspace.allow_training:
            return {"workspace_id": workspace_id, "day": day, "state": "not_allowed"}
        now = time.time()
        fresh: Run = {
            "workspace_id": workspace_id,
            "day": day,
            "state": RunState.STARTED.value,
            "trainer": self._trainer.name,
            "started_at": now,
            "updated_at": now,
        }
        if await self._store.claim_run(fresh):
            return await self._start(fresh)
        existing = await self._store.run(workspace_id, day)
        assert existing is not None
        state = RunState(existing["state"])
        if state.training:
            return await self._train(existing)
        if state is RunState.FAILED:
            if int(existing.get("attempts") or 0) >= self.config.max_attempts:
                return existing
            if existing.get("manifest_key"):
                return await self._train(existing)
        elif state.final and state is not RunState.SKIPPED:
            return existing  # done today: a rerun trains nothing
        return await self._start({**existing, "updated_at": now})

    async def _save(self, run: Run, state: RunState, **fields: Any) -> Run:
        run = {**run, **fields, "state": state.value, "updated_at": time.time()}
        await self._store.save_run(run)
        return run

    async def _start(self, run: Run) -> Run:
        ws = run["workspace_id"]
        cutoff = time.time()
        found = await self._dataset(ws, run["day"])
        if isinstance(found, str):
            return await self._save(run, RunState.SKIPPED, **self._skip_fields(found))
        dataset, files, counts, new = found
        manifest = self._manifest(run, dataset, files, counts, new)
        prefix = f"{dataset_prefix(ws)}/{run['day']}"
        for name, data in files.items():
            await self._objects.write(f"{prefix}/{name}", data)
        manifest_key = f"{prefix}/manifest"
        await self._objects.write(manifest_key, json.dumps(manifest, indent=2).encode())
        run = await self._save(
            run,
            RunState.TRAINING,
            cutoff=cutoff,
            new_examples=new,
            examples=manifest["examples"],
            counts=counts,
            manifest_key=manifest_key,
            dataset_sha256=manifest["dataset_sha256"],
            error=None,
        )
        return await self._train(run)

    def _skip_fields(self, reason: str) -> dict[str, Any]:
        new_examples, _, why = reason.partition(":")
        return {"new_examples": int(new_examples), "reason": why}

    async def _dataset(
        self, ws: str, day: str
    ) -> str | tuple[Dataset, dict[str, bytes], dict[str, int], int]:
        """The dataset to train on, or ``"{new examples}:{why not}"``."""
        await label_workspace(
            ws, self._records, self._store, self._source, settle_s=self.config.settle_s
        )
        outcomes = await self._store.outcomes(ws)
        if self._threads is not None:
            outcomes += await thread_outcomes(self._threads, ws)
        since = await self._last_cutoff(ws, day)
        new = sum(1 for o in outcomes if labelled(o) and float(o["decided_at"]) > since)
        if new < self.config.min_examples:
            return f"{new}:too few new examples ({new} of {self.config.min_examples})"
        dataset = build(outcomes, self.config.limits)
        files = dataset.files()
        counts = {name: validate_file(name, data) for name, data in files.items()}
        if counts[self._train_file] == 0:
            return f"{new}:no usable training examples"
        return dataset, files, counts, new

    @property
    def _train_file(self) -> str:
        return "sft-train" if self.config.method == "supervised" else "preference-train"

    async def preview(self, workspace_id: str, day: str | None = None) -> dict[str, Any]:
        """``--dry-run``: the dataset a run would train on, built and shown, nothing stored
        and no run recorded (outcomes that settled are recorded: they are facts)."""
        day = day or today()
        found = await self._dataset(workspace_id, day)
        base = {"workspace_id": workspace_id, "day": day, "dry_run": True}
        if isinstance(found, str):
            return {**base, "would_train": False, **self._skip_fields(found)}
        files = found[1]
        manifest = self._manifest({"workspace_id": workspace_id, "day": day}, *found)
        sample = [json.loads(line) for line in files[self._train_file].splitlines()[:3]]
        return {**base, "would_train": True, "manifest": manifest, "sample": sample}

    async def _last_cutoff(self, workspace_id: str, day: str) -> float:
        """Until when the last run that trained used the examples: a skipped run trained on
        nothing, and a failed run's examples count again the next day."""
        for run in await self._store.runs(workspace_id):
            state = RunState(run["state"])
            consumed = state.training or state in (RunState.PROMOTED, RunState.REJECTED)
            if run["day"] != day and run.get("cutoff") and consumed:
                return float(run["cutoff"])
        return 0.0

    def _manifest(
        self,
        run: Run,
        dataset: Dataset,
        files: dict[str, bytes],
        counts: dict[str, int],
        new: int,
    ) -> dict[str, Any]:
        prefix = f"{dataset_prefix(run['workspace_id'])}/{run['day']}"
        return {
            "workspace_id": run["workspace_id"],
            "day": run["day"],
            "created_at": time.time(),
            "base_model": self.config.base_model,
            "method": self.config.method,
            "trainer": self._trainer.name,
            "files": {
                name: {"key": f"{prefix}/{name}", "sha256": sha256(data), "lines": counts[name]}
                for name, data in files.items()
            },
            "dataset_sha256": sha256("".join(sha256(files[n]) for n in sorted(files)).encode()),
            "examples": {"train": len(dataset.train), "validation": len(dataset.validation)},
            "new_examples": new,
            "filters": {
                "dropped": dict(dataset.filters),
                "secrets_redacted": dict(dataset.redactions),
                "max_per_user": self.config.limits.max_per_user,
                "max_example_chars": self.config.limits.max_example_chars,
                "split": "by document, else by time",
                "validation_fraction": self.config.limits.validation_fraction,
            },
        }

    # -- training ----------------------------------------------------------------------------

    async def _train(self, run: Run) -> Run:
        manifest = json.loads(await self._read(run["manifest_key"]))
        train_name = self._train_file
        valid_name = train_name.replace("train", "validation")
        request = TrainingRequest(
            workspace_id=run["workspace_id"],
            run=run["day"],
            method=self.config.method,
            train=await self._read(manifest["files"][train_name]["key"]),
            validation=await self._read(manifest["files"][valid_name]["key"]),
            dataset_sha256=manifest["dataset_sha256"],
        )
        run = await self._save(
            run,
            RunState.TRAINING,
            attempts=int(run.get("attempts") or 0) + 1,
            trainer=self._trainer.name,
        )
        progress = _ProgressRecorder(self, run)
        try:
            result = await self._trainer.train(request, progress)
        except TrainingError as exc:
            log.warning("training %s/%s failed: %s", run["workspace_id"], run["day"], exc)
            return await self._save(progress.run, RunState.FAILED, error=str(exc))
        return await self._gate(progress.run, result)

    async def _read(self, key: str) -> bytes:
        data = await self._objects.read(key)
        if data is None:
            raise TrainingError(f"the stored dataset lacks {key}")
        return data

    # -- the gate ----------------------------------------------------------------------------

    async def _gate(self, run: Run, result: TrainingResult) -> Run:
        ws = run["workspace_id"]
        candidate = result.model_id
        details = {k: v for k, v in result.details.items() if k not in ("trainer",)}
        for curve in ("loss", "eval_loss"):
            if curve in details:  # the manifest keeps every step; the run a readable curve
                details[curve] = thin(details[curve], _CURVE_POINTS)
        # Registered before the evaluation: the vLLM sidecar copies registered adapters.
        await self.registry.register(
            {
                "workspace_id": ws,
                "model_id": candidate,
                "run_day": run["day"],
                "trainer": self._trainer.name,
                "base_model": details.get("base_model", self.config.base_model),
                "base_revision": details.get("base_revision"),
                "created_at": time.time(),
            }
        )
        held_out = await self._held_out(run)
        current = await self.registry.model_for(ws) or self.config.base_model
        if held_out:
            await self._wait_served(candidate, held_out[0][0])
        new_scores = await evaluate(self._answerer, candidate, held_out)
        old_scores = await evaluate(self._answerer, current, held_out)
        scores = {"candidate": new_scores.as_dict(), "current": old_scores.as_dict()}
        promote, reason = _decide(new_scores, old_scores, self.config.promote_margin)
        fields: dict[str, Any] = {
            **details,
            "model_id": candidate,
            "fine_tuned_model": candidate,
            "scores": scores,
            "reason": reason,
            "progress": None,
        }
        if promote:
            await self.registry.promote(ws, candidate)
            return await self._save(run, RunState.PROMOTED, **fields)
        return await self._save(run, RunState.REJECTED, **fields)

    async def _wait_served(self, model: str, prompt: list[dict[str, str]]) -> None:
        """Until the serving path answers for ``model`` (bounded): an adapter the server
        does not know yet would score as a model that cannot answer."""
        deadline = time.monotonic() + self.config.serve_wait_s
        while True:
            try:
                await self._answerer.complete(model, prompt)
                return
            except AnswerError as exc:
                if time.monotonic() > deadline:
                    log.warning("%s is still not served: %s", model, exc)
                    return
            await asyncio.sleep(2.0)  # a remote server's state: there is nothing to wait on

    async def _held_out(self, run: Run) -> HeldOut:
        """The stored validation file (what the trainer never saw), else the newest training
        lines; read back from object storage so a resumed run evaluates the same."""
        prefix = f"{dataset_prefix(run['workspace_id'])}/{run['day']}"
        lines = (await self._objects.read(f"{prefix}/sft-validation") or b"").splitlines()
        if not lines:
            lines = (await self._objects.read(f"{prefix}/sft-train") or b"").splitlines()
        pairs = []
        for raw in lines[-self.config.eval_examples :]:
            messages = json.loads(raw)["messages"]
            pairs.append((messages[:-1], messages[-1]["content"]))
        return pairs


class _ProgressRecorder:
    """The trainer's progress, kept in the run (at most every two seconds) and shown."""

    def __init__(self, pipeline: Pipeline, run: Run) -> None:
        self._pipeline = pipeline
        self.run = run
        self._saved = 0.0

    async def __call__(self, event: dict[str, Any]) -> None:
        progress = {**(self.run.get("progress") or {}), **event}
        self.run = {**self.run, "progress": progress}
        for key in ("job_id", "job_status", "resumed_from_step"):
            if key in event:
                self.run[key] = event[key]
        watch = self._pipeline._watch
        if watch is not None:
            shown = watch(self.run["workspace_id"], event)
            if shown is not None:
                await shown
        now = time.monotonic()
        if now - self._saved >= _PROGRESS_SAVE_S:
            self._saved = now
            self.run = await self._pipeline._save(self.run, RunState.TRAINING)


def thin(points: list[Any], most: int) -> list[Any]:
    """At most ``most`` points, evenly spaced, the first and the last always kept."""
    if len(points) <= most:
        return list(points)
    step = (len(points) - 1) / (most - 1)
    return [points[round(i * step)] for i in range(most)]


def _decide(candidate: Scores, current: Scores, margin: float) -> tuple[bool, str]:
    if candidate.count == 0:
        return False, "no held-out examples to evaluate on: promote by hand if wanted"
    versus = (
        f"{candidate.mean:.3f} against the current model's {current.mean:.3f} "
        f"on {candidate.count} held-out examples"
    )
    if candidate.valid < current.valid:
        return False, (
            f"its answers had a valid format less often ({candidate.valid:.0%} against "
            f"{current.valid:.0%})"
        )
    if candidate.mean > current.mean + margin:
        return True, f"the candidate scored {versus}"
    extra = f" (plus a margin of {margin})" if margin else ""
    return False, f"the candidate scored {versus}: not better{extra}"
