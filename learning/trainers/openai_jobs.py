"""The ``openai-jobs`` trainer: any server speaking OpenAI's files and fine_tuning.jobs API, by
base URL and key (OpenAI itself takes no new fine-tuning jobs from 6 January 2027). Every call
has a timeout and a bounded number of retries (openai-python defaults to ten minutes and two).

A run's job is created once: its metadata names the run, so a rerun after a crash between
creating the job and recording it finds that job instead of creating a second."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

from . import Progress, TrainingError, TrainingRequest, TrainingResult

log = logging.getLogger(__name__)

TERMINAL = ("succeeded", "failed", "cancelled")
RUN_KEY = "tandem_run"
"""Job metadata naming the run that created it: a rerun finds its job instead of creating a
second one, even if it crashed between creating the job and recording it."""


class ProviderError(TrainingError):
    """The provider refused or failed a call, or a job did not end in time."""


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    fine_tuned_model: str | None
    error: str | None

    @classmethod
    def of(cls, job: Any) -> Job:
        error = getattr(job, "error", None)
        message = getattr(error, "message", None) if error is not None else None
        return cls(job.id, job.status, job.fine_tuned_model, message)


class Provider:
    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout_s: float = 60.0,
        retries: int = 2,
    ) -> None:
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",  # self-hosted servers often need none
            timeout=timeout_s,
            max_retries=retries,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def upload(self, name: str, data: bytes) -> str:
        try:
            created = await self._client.files.create(
                file=(f"{name}.jsonl", data, "application/jsonl"), purpose="fine-tune"
            )
        except openai.OpenAIError as exc:
            raise ProviderError(f"uploading {name}: {exc}") from exc
        return created.id

    async def find_job(self, run_key: str) -> Job | None:
        try:
            page = await self._client.fine_tuning.jobs.list(metadata={RUN_KEY: run_key}, limit=10)
        except openai.OpenAIError as exc:
            raise ProviderError(f"listing jobs: {exc}") from exc
        for job in page.data:
            if (job.metadata or {}).get(RUN_KEY) == run_key:
                return Job.of(job)
        return None

    async def create_job(
        self,
        *,
        run_key: str,
        model: str,
        training_file: str,
        validation_file: str | None,
        method: str,
        suffix: str,
    ) -> Job:
        try:
            job = await self._client.fine_tuning.jobs.create(
                model=model,
                training_file=training_file,
                validation_file=validation_file or openai.omit,
                method={"type": method},  # type: ignore[typeddict-item]
                suffix=suffix[:18],
                metadata={RUN_KEY: run_key},
            )
        except openai.OpenAIError as exc:
            raise ProviderError(f"creating the job: {exc}") from exc
        return Job.of(job)

    async def job(self, job_id: str) -> Job:
        try:
            return Job.of(await self._client.fine_tuning.jobs.retrieve(job_id))
        except openai.OpenAIError as exc:
            raise ProviderError(f"reading job {job_id}: {exc}") from exc

    async def follow(self, job_id: str, *, poll_s: float, timeout_s: float) -> Job:
        """Polls until the job ends (the provider's API has no push)."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = await self.job(job_id)
            if job.status in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise ProviderError(f"job {job_id} still {job.status} after {timeout_s:.0f} s")
            log.info("fine-tuning job %s is %s", job_id, job.status)
            await asyncio.sleep(poll_s)  # polling a remote job: there is nothing to wait on


class OpenAIJobsTrainer:
    """The trainer port over a ``Provider``: upload, create the job once, follow it."""

    name = "openai-jobs"

    def __init__(
        self, provider: Provider, *, base_model: str, poll_s: float, timeout_s: float
    ) -> None:
        self._provider = provider
        self._base_model = base_model
        self._poll_s = poll_s
        self._timeout_s = timeout_s

    async def train(self, request: TrainingRequest, progress: Progress) -> TrainingResult:
        run_key = f"{request.workspace_id}/{request.run}"
        job = await self._provider.find_job(run_key)
        if job is None:
            kind = "sft" if request.method == "supervised" else "preference"
            stem = f"{request.workspace_id}-{request.run}-{kind}"
            training_file = await self._provider.upload(f"{stem}-train", request.train)
            validation_file = (
                await self._provider.upload(f"{stem}-validation", request.validation)
                if request.validation.strip()
                else None
            )
            job = await self._provider.create_job(
                run_key=run_key,
                model=self._base_model,
                training_file=training_file,
                validation_file=validation_file,
                method=request.method,
                suffix=f"tandem-{request.run}",
            )
        await progress({"job_id": job.id, "job_status": job.status})
        job = await self._provider.follow(job.id, poll_s=self._poll_s, timeout_s=self._timeout_s)
        if job.status != "succeeded" or not job.fine_tuned_model:
            raise TrainingError(f"job {job.id} {job.status}: {job.error or 'no model'}")
        return TrainingResult(
            job.fine_tuned_model,
            {"job_id": job.id, "job_status": job.status, "base_model": self._base_model},
        )
