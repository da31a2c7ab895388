"""The test model server (tests/modelserver.py) plus OpenAI's files and fine-tuning jobs API,
scripted per test:

    async with FineTuneServer() as provider:
        provider.plan_jobs("good")          # the next job yields a model that learned its data
        provider.plan_jobs("bad", "fail")   # then one that answers badly, then a failed job
        ... TANDEM_FT_BASE_URL=provider.base_url, run `tandem finetune` ...
        assert len(provider.jobs) == 1

A job moves one state further each time it is read (validating_files -> queued -> running ->
succeeded | failed), so a follower sees it change over time without the test sleeping. A
"good" model answers every prompt it was trained or validated on with the text people kept
(it memorised its files); a "bad" one answers in a chatty, fenced format. Jobs can be listed
by metadata, as OpenAI's API allows.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tests.modelserver import Behaviour, ModelServer, Reply

STATES = ("validating_files", "queued", "running")
BAD_ANSWER = "Sure! Here is the text:\n```\nlorem ipsum\n```"


@dataclass
class UploadedFile:
    id: str
    filename: str
    purpose: str
    data: bytes

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.data.splitlines() if line.strip()]


@dataclass
class FineTuneJob:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    method: dict[str, Any]
    suffix: str | None
    metadata: dict[str, str]
    plan: str
    created_at: int
    reads: int = 0
    fine_tuned_model: str | None = None
    error: str | None = None
    history: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.reads < len(STATES):
            return STATES[self.reads]
        return "failed" if self.plan == "fail" else "succeeded"

    def as_json(self) -> dict[str, Any]:
        finished = self.status in ("succeeded", "failed")
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at,
            "finished_at": self.created_at + 60 if finished else None,
            "model": self.model,
            "fine_tuned_model": self.fine_tuned_model if self.status == "succeeded" else None,
            "organization_id": "org-test",
            "result_files": [],
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0},
            "trained_tokens": 1000 if self.status == "succeeded" else None,
            "error": (
                {"code": "training_failed", "message": self.error, "param": None}
                if self.status == "failed"
                else None
            ),
            "seed": 1,
            "metadata": self.metadata,
            "method": self.method,
            "suffix": self.suffix,
        }


def _prompt_key(messages: list[dict[str, Any]]) -> str:
    return json.dumps(
        [{"role": m.get("role"), "content": m.get("content")} for m in messages], sort_keys=True
    )


class FineTuneServer(ModelServer):
    def __init__(self, default: Behaviour | None = None, model_id: str = "base-model") -> None:
        super().__init__(default, model_id)
        self.files: dict[str, UploadedFile] = {}
        self.jobs: list[FineTuneJob] = []
        self.tuned: dict[str, str] = {}
        """Fine-tuned model id -> "good" | "bad"."""
        self._memory: dict[str, dict[str, str]] = {}
        self._plans: list[str] = []
        self.failing_uploads = 0
        """The next this many uploads answer 500."""
        self._counter = itertools.count(1)

    def plan_jobs(self, *plans: str) -> None:
        """What the next jobs do: "good", "bad" or "fail"; unplanned jobs are "good"."""
        self._plans.extend(plans)

    def chat_requests(self, model: str | None = None) -> list[dict[str, Any]]:
        return [
            r.body
            for r in self.requests
            if r.path.endswith("/chat/completions") and (model is None or r.body["model"] == model)
        ]

    # -- chat: fine-tuned models answer from what they learned --------------------------------

    def _next(self, body_text: str) -> Behaviour:
        body = json.loads(body_text)
        model = body.get("model")
        if model in self.tuned:
            if self.tuned[model] == "bad":
                return Reply(BAD_ANSWER)
            answer = self._memory[model].get(_prompt_key(body.get("messages") or []))
            return Reply(answer if answer is not None else "I never saw this.")
        return super()._next(body_text)

    # -- files and jobs -------------------------------------------------------------------------

    def extra_routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/files", self._upload, methods=["POST"]),
            Route("/v1/fine_tuning/jobs", self._create_job, methods=["POST"]),
            Route("/v1/fine_tuning/jobs", self._list_jobs, methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}", self._read_job, methods=["GET"]),
        ]

    async def _upload(self, request: Request) -> Response:
        raw = await request.body()
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = (
                part.get_filename(),
                payload if isinstance(payload, bytes) else b"",
            )
        await self.record(request, {"purpose": fields.get("purpose", (None, b""))[1].decode()})
        if self.failing_uploads > 0:
            self.failing_uploads -= 1
            error = {"message": "scripted upload failure", "type": "server_error"}
            return JSONResponse({"error": error}, status_code=500)
        filename, data = fields["file"]
        for number, line in enumerate(data.splitlines(), 1):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                error = {"message": f"line {number} is not JSON", "type": "invalid_request_error"}
                return JSONResponse({"error": error}, status_code=400)
        uploaded = UploadedFile(
            f"file-{next(self._counter)}", filename or "upload", fields["purpose"][1].decode(), data
        )
        self.files[uploaded.id] = uploaded
        return JSONResponse(
            {
                "id": uploaded.id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": uploaded.filename,
                "purpose": uploaded.purpose,
                "status": "processed",
            }
        )

    async def _create_job(self, request: Request) -> Response:
        body = await request.json()
        await self.record(request, body)
        for key in ("training_file", "validation_file"):
            if body.get(key) is not None and body[key] not in self.files:
                error = {"message": f"no file {body[key]}", "type": "invalid_request_error"}
                return JSONResponse({"error": error}, status_code=400)
        n = next(self._counter)
        job = FineTuneJob(
            id=f"ftjob-{n}",
            model=body["model"],
            training_file=body["training_file"],
            validation_file=body.get("validation_file"),
            method=body.get("method") or {"type": "supervised"},
            suffix=body.get("suffix"),
            metadata=body.get("metadata") or {},
            plan=self._plans.pop(0) if self._plans else "good",
            created_at=int(time.time()),
        )
        if job.plan == "fail":
            job.error = "scripted training failure"
        else:
            job.fine_tuned_model = f"ft:{job.model}:tandem:{job.suffix or 'x'}:{n}"
        self.jobs.append(job)
        return JSONResponse(job.as_json())

    async def _list_jobs(self, request: Request) -> Response:
        await self.record(request, dict(request.query_params))
        wanted = {
            key[len("metadata[") : -1]: value
            for key, value in request.query_params.items()
            if key.startswith("metadata[")
        }
        found = [
            j.as_json()
            for j in reversed(self.jobs)
            if all(j.metadata.get(k) == v for k, v in wanted.items())
        ]
        limit = int(request.query_params.get("limit", "20"))
        return JSONResponse({"object": "list", "data": found[:limit], "has_more": False})

    async def _read_job(self, request: Request) -> Response:
        await self.record(request, None)
        job = next((j for j in self.jobs if j.id == request.path_params["job_id"]), None)
        if job is None:
            error = {"message": "no such job", "type": "invalid_request_error"}
            return JSONResponse({"error": error}, status_code=404)
        job.reads += 1
        job.history.append(job.status)
        if job.status == "succeeded" and job.fine_tuned_model not in self.tuned:
            self._learn(job)
        return JSONResponse(job.as_json())

    def _learn(self, job: FineTuneJob) -> None:
        assert job.fine_tuned_model is not None
        self.tuned[job.fine_tuned_model] = job.plan
        memory: dict[str, str] = {}
        for file_id in (job.training_file, job.validation_file):
            if file_id is None:
                continue
            for line in self.files[file_id].lines:
                if "messages" in line:
                    *prompt, answer = line["messages"]
                    memory[_prompt_key(prompt)] = answer["content"]
                else:
                    prompt = line["input"]["messages"]
                    memory[_prompt_key(prompt)] = line["preferred_output"][0]["content"]
        self._memory[job.fine_tuned_model] = memory
