"""One day's fine-tuning run for one workspace, resumable and idempotent per (workspace, day):

    label outcomes -> enough new examples? -> dataset + manifest in object storage
    -> upload, create the job (once: the run record and the job's metadata both say so)
    -> follow it -> evaluate candidate vs current on the held-out file -> promote or not

A rerun the same day finds the run record: a finished run does nothing, a submitted one
follows its job, one that crashed before recording its job finds it by its metadata."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from assistant.records import Records

from .dataset import Dataset, DatasetLimits, build, labelled, sha256, validate_file
from .evaluation import Scores, evaluate
from .labelling import DocumentSource, label_workspace
from .provider import Job, Provider, ProviderError
from .registry import ModelRegistry
from .store import LearningStore, Run, RunState

log = logging.getLogger(__name__)

DATASET_FILES = ("sft-train", "sft-validation", "preference-train", "preference-validation")


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
    method: str = "supervised"
    min_examples: int = 50
    settle_s: float = 24 * 3600.0
    limits: DatasetLimits = field(default_factory=DatasetLimits)
    poll_s: float = 30.0
    job_timeout_s: float = 12 * 3600.0
    eval_examples: int = 50
    promote_margin: float = 0.0


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
        provider: Provider,
    ) -> None:
        self.config = config
        self._directory = directory
        self._records = records
        self._store = store
        self._source = source
        self._objects = objects
        self._provider = provider
        self.registry = ModelRegistry(store, cache_s=0.0)

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
            "started_at": now,
            "updated_at": now,
        }
        if not await self._store.claim_run(fresh):
            existing = await self._store.run(workspace_id, day)
            assert existing is not None
            state = RunState(existing["state"])
            if state is RunState.SUBMITTED:
                return await self._finish(existing)
            if state.final and state is not RunState.SKIPPED:
                return existing  # done today: a rerun submits nothing
            fresh = {**existing, "updated_at": now}
        return await self._start(fresh)

    async def _save(self, run: Run, state: RunState, **fields: Any) -> Run:
        run = {**run, **fields, "state": state.value, "updated_at": time.time()}
        await self._store.save_run(run)
        return run

    async def _start(self, run: Run) -> Run:
        ws, day = run["workspace_id"], run["day"]
        run_key = f"{ws}/{day}"
        if (adopted := await self._provider.find_job(run_key)) is not None:
            # A crash after creating the job but before recording it: follow that job.
            run = await self._save(
                run, RunState.SUBMITTED, job_id=adopted.id, cutoff=run.get("cutoff") or time.time()
            )
            return await self._finish(run)
        cutoff = time.time()
        await label_workspace(
            ws, self._records, self._store, self._source, settle_s=self.config.settle_s
        )
        outcomes = await self._store.outcomes(ws)
        since = await self._last_cutoff(ws, day)
        new = sum(1 for o in outcomes if labelled(o) and float(o["decided_at"]) > since)
        if new < self.config.min_examples:
            return await self._save(
                run, RunState.SKIPPED, new_examples=new, reason="too few new examples"
            )
        dataset = build(outcomes, self.config.limits)
        files = dataset.files()
        counts = {name: validate_file(name, data) for name, data in files.items()}
        train_name = "sft-train" if self.config.method == "supervised" else "preference-train"
        valid_name = train_name.replace("train", "validation")
        if counts[train_name] == 0:
            return await self._save(
                run, RunState.SKIPPED, new_examples=new, reason="no usable training examples"
            )
        manifest_key = await self._store_dataset(run, dataset, files, counts, new)
        training_file = await self._provider.upload(f"{ws}-{day}-{train_name}", files[train_name])
        validation_file = (
            await self._provider.upload(f"{ws}-{day}-{valid_name}", files[valid_name])
            if counts[valid_name]
            else None
        )
        job = await self._provider.create_job(
            run_key=run_key,
            model=self.config.base_model,
            training_file=training_file,
            validation_file=validation_file,
            method=self.config.method,
            suffix=f"tandem-{day}",
        )
        run = await self._save(
            run,
            RunState.SUBMITTED,
            cutoff=cutoff,
            new_examples=new,
            counts=counts,
            manifest_key=manifest_key,
            training_file=training_file,
            validation_file=validation_file,
            job_id=job.id,
            job_status=job.status,
        )
        return await self._finish(run)

    async def _last_cutoff(self, workspace_id: str, day: str) -> float:
        """Until when the last run that trained used the examples: a skipped run trained on
        nothing, and a failed job's examples count again the next day."""
        consumed = (RunState.SUBMITTED, RunState.PROMOTED, RunState.REJECTED)
        for run in await self._store.runs(workspace_id):
            if run["day"] != day and run.get("cutoff") and run["state"] in consumed:
                return float(run["cutoff"])
        return 0.0

    async def _store_dataset(
        self, run: Run, dataset: Dataset, files: dict[str, bytes], counts: dict[str, int], new: int
    ) -> str:
        prefix = f"{dataset_prefix(run['workspace_id'])}/{run['day']}"
        for name, data in files.items():
            await self._objects.write(f"{prefix}/{name}", data)
        manifest = {
            "workspace_id": run["workspace_id"],
            "day": run["day"],
            "created_at": time.time(),
            "base_model": self.config.base_model,
            "method": self.config.method,
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
        key = f"{prefix}/manifest"
        await self._objects.write(key, json.dumps(manifest, indent=2).encode())
        return key

    async def _finish(self, run: Run) -> Run:
        try:
            job = await self._provider.follow(
                run["job_id"], poll_s=self.config.poll_s, timeout_s=self.config.job_timeout_s
            )
        except ProviderError as exc:
            # Still submitted: the next run (or a rerun) follows the same job again.
            log.warning("following %s: %s", run["job_id"], exc)
            return await self._save(run, RunState.SUBMITTED, error=str(exc))
        if job.status != "succeeded" or not job.fine_tuned_model:
            return await self._save(
                run, RunState.FAILED, job_status=job.status, error=job.error or job.status
            )
        return await self._gate(run, job)

    async def _gate(self, run: Run, job: Job) -> Run:
        ws = run["workspace_id"]
        candidate = job.fine_tuned_model
        assert candidate is not None
        held_out = await self._held_out(run)
        current = await self.registry.model_for(ws) or self.config.base_model
        new_scores = await evaluate(self._provider, candidate, held_out)
        old_scores = await evaluate(self._provider, current, held_out)
        scores = {"candidate": new_scores.as_dict(), "current": old_scores.as_dict()}
        await self.registry.register(
            {
                "workspace_id": ws,
                "model_id": candidate,
                "run_day": run["day"],
                "base_model": self.config.base_model,
                "created_at": time.time(),
                "scores": scores,
            }
        )
        fields: dict[str, Any] = {
            "job_status": job.status,
            "fine_tuned_model": candidate,
            "scores": scores,
        }
        if not held_out:
            fields["error"] = "no held-out set stored for this run: promote by hand if wanted"
        if _better(new_scores, old_scores, self.config.promote_margin):
            await self.registry.promote(ws, candidate)
            return await self._save(run, RunState.PROMOTED, **fields)
        return await self._save(run, RunState.REJECTED, **fields)

    async def _held_out(self, run: Run) -> list[tuple[list[dict[str, str]], str]]:
        """The stored validation file (what the job never trained on), else the newest
        training lines; read back from object storage so a resumed run evaluates the same."""
        prefix = f"{dataset_prefix(run['workspace_id'])}/{run['day']}"
        lines = (await self._objects.read(f"{prefix}/sft-validation") or b"").splitlines()
        if not lines:
            lines = (await self._objects.read(f"{prefix}/sft-train") or b"").splitlines()
        # No stored dataset (a job adopted from a run that never stored one): an empty
        # held-out set, which promotes nothing; an operator may still promote by hand.
        pairs = []
        for raw in lines[-self.config.eval_examples :]:
            messages = json.loads(raw)["messages"]
            pairs.append((messages[:-1], messages[-1]["content"]))
        return pairs


def _better(candidate: Scores, current: Scores, margin: float) -> bool:
    if candidate.count == 0:
        return False
    return candidate.mean > current.mean + margin and candidate.valid >= current.valid
