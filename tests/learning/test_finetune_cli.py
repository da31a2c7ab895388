"""``tandem finetune`` with the openai-jobs trainer, as a subprocess against the embedded
stores and a test provider that implements files and fine-tuning jobs and chat completions
(tests/finetune_server.py): the gate asks it through the assistant's serving path."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.finetune_server import FineTuneServer
from tests.learning.seed import Case, Seeder
from tests.modelserver import Reply

SECRET = "AKIAZ7QX4MPLE2EXAMPL"
"""A planted AWS access key id: typed by a person into text that became a label."""

_DEADLINE_S = 60.0


@pytest.fixture
async def provider() -> AsyncIterator[FineTuneServer]:
    async with FineTuneServer() as server:
        yield server


async def finetune(
    data_dir: Path, provider: FineTuneServer, *args: str, **env: str
) -> tuple[int, list[dict[str, Any]], str]:
    environment = {
        **os.environ,
        "TANDEM_DATA_DIR": str(data_dir),
        "TANDEM_FT_TRAINER": "openai-jobs",
        "TANDEM_FT_BASE_URL": provider.base_url,
        "TANDEM_OPENAI_BASE_URL": provider.base_url,
        "TANDEM_OPENAI_MAX_RETRIES": "0",
        "TANDEM_FT_API_KEY": "sk-test-finetune",
        "TANDEM_OPENAI_MODEL": "base-model",
        "TANDEM_FT_MIN_EXAMPLES": "3",
        "TANDEM_FT_SETTLE_S": "0",
        "TANDEM_FT_POLL_S": "0.01",
        "TANDEM_LOG_LEVEL": "warning",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "finetune",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), _DEADLINE_S)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert proc.returncode is not None
    return proc.returncode, lines, err.decode()


def cases(prefix: str = "") -> list[Case]:
    return [
        Case("d1", f"{prefix}The meeting is on monday.", "monday", "Monday"),
        Case("d1", f"{prefix}we shiped it yesterday", "shiped", "shipped"),
        Case(
            "d2",
            f"{prefix}Call me at the office.",
            "Call me at the office.",
            "Please call me at the office.",
            human=f"Please call me at the office (key {SECRET}).",
        ),
        Case(
            "d2",
            f"{prefix}Results were good.",
            "Results were good.",
            "Results were extremely good!!!",
            decision="rejected",
            human="Results were better than expected.",
        ),
        Case("d3", f"{prefix}teh end", "teh", "the", user_id="u2"),
        Case("d3", f"{prefix}a nice colour", "colour", "color", user_id="u2"),
    ]


async def test_finetune_trains_evaluates_and_promotes_once_a_day(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())

    code, [run], err = await finetune(tmp_path, provider)
    assert code == 0, err
    assert run["state"] == "promoted", run
    [job] = provider.jobs
    assert job.model == "base-model" and job.metadata == {"tandem_run": f"{ws}/{run['day']}"}
    # Created as validating_files, the follower then saw it move through its states.
    assert job.history == ["queued", "running", "succeeded"]
    assert run["scores"]["candidate"]["mean"] > run["scores"]["current"]["mean"]
    assert run["fine_tuned_model"] == job.fine_tuned_model

    # What was uploaded: chat SFT lines with the kept or corrected text, no planted secret.
    training = provider.files[job.training_file]
    assert SECRET not in training.data.decode() and "[REDACTED:" in training.data.decode()
    answers = [line["messages"][-1]["content"] for line in training.lines]
    validation = provider.files[job.validation_file] if job.validation_file else None
    if validation is not None:
        answers += [line["messages"][-1]["content"] for line in validation.lines]
    assert "Results were better than expected." in answers  # the human text, not the proposal
    assert "Results were extremely good!!!" not in answers
    assert "Monday" in answers

    # The dataset and its manifest are in object storage.
    manifest = json.loads((tmp_path / "objects" / run["manifest_key"]).read_bytes())
    assert manifest["examples"]["train"] + manifest["examples"]["validation"] == 6
    assert manifest["filters"]["secrets_redacted"] and len(manifest["dataset_sha256"]) == 64
    for name, stored in manifest["files"].items():
        data = (tmp_path / "objects" / stored["key"]).read_bytes()
        assert SECRET not in data.decode(), name

    # A rerun the same day submits nothing and uploads nothing.
    uploads = len(provider.files)
    code, [again], err = await finetune(tmp_path, provider)
    assert code == 0, err
    assert again["state"] == "promoted" and len(provider.jobs) == 1
    assert len(provider.files) == uploads

    code, [status], err = await finetune(tmp_path, provider, "status")
    assert code == 0, err
    assert status["current"] == job.fine_tuned_model


async def test_a_worse_candidate_is_not_promoted(tmp_path: Path, provider: FineTuneServer) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    provider.plan_jobs("bad")
    provider.default = Reply("Results were good on Monday.")  # the base model: so-so
    code, [run], err = await finetune(tmp_path, provider)
    assert code == 0, err
    assert run["state"] == "rejected", run
    assert run["scores"]["candidate"]["mean"] < run["scores"]["current"]["mean"]
    code, [status], err = await finetune(tmp_path, provider, "status")
    assert status["current"] is None
    assert [m["model_id"] for m in status["models"]] == [run["fine_tuned_model"]]


async def test_a_failed_job_promotes_nothing_and_is_not_resubmitted(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    provider.plan_jobs("fail")
    code, [run], err = await finetune(tmp_path, provider)
    assert code == 1, err  # the Job's pod is retried
    assert run["state"] == "failed" and "scripted training failure" in run["error"]
    assert run["attempts"] == 1 and run["manifest_key"]
    # The retry finds the same job by its metadata: nothing is submitted twice.
    code, [again], err = await finetune(tmp_path, provider)
    assert again["state"] == "failed" and again["attempts"] == 2 and len(provider.jobs) == 1
    code, [again], err = await finetune(tmp_path, provider)
    code, [last], err = await finetune(tmp_path, provider)
    assert (
        last["attempts"] == 3 and len(provider.jobs) == 1
    )  # TANDEM_FT_MAX_ATTEMPTS: no more tries


async def test_too_few_new_examples_submit_nothing_until_there_are_enough(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases()[:2])
    code, [run], err = await finetune(tmp_path, provider)
    assert code == 0, err
    assert run["state"] == "skipped" and run["new_examples"] == 2
    assert provider.jobs == [] and provider.files == {}
    await seeder.add(ws, cases("Later: ")[2:])
    code, [run], err = await finetune(tmp_path, provider)
    assert run["state"] == "promoted", (run, err)


async def test_suggestions_not_yet_settled_are_not_labelled(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    code, [run], err = await finetune(tmp_path, provider, TANDEM_FT_SETTLE_S="3600")
    assert code == 0, err
    assert run["state"] == "skipped" and run["new_examples"] == 0


async def test_an_opted_out_workspace_is_never_trained(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace(allow_training=False)
    await seeder.add(ws, cases())
    code, [run], err = await finetune(tmp_path, provider)
    assert code == 0, err
    assert run["state"] == "not_allowed"
    assert provider.requests == [] and not (tmp_path / "objects" / "learning").exists()


async def test_promote_and_rollback_from_the_command_line(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    provider.plan_jobs("bad")
    code, [run], err = await finetune(tmp_path, provider)
    assert run["state"] == "rejected", (run, err)
    code, _, err = await finetune(tmp_path, provider, "promote", ws, "ft:unknown")
    assert code == 1 and "not a model" in err, (code, err)
    code, [status], err = await finetune(tmp_path, provider, "promote", ws, run["fine_tuned_model"])
    assert code == 0 and status["current"] == run["fine_tuned_model"], err
    code, [status], err = await finetune(tmp_path, provider, "rollback", ws)
    assert code == 0 and status["current"] is None, err
    code, _, err = await finetune(tmp_path, provider, "rollback", ws)
    assert code == 1 and "nothing" not in err and "no promoted model" in err


async def test_a_run_that_lost_track_of_its_job_follows_it_instead_of_submitting_again(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    """A crash between creating the job and recording it: the job's metadata names the run."""
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    client = AsyncOpenAI(base_url=provider.base_url, api_key="sk-test", max_retries=0)
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    uploaded = await client.files.create(
        file=("t.jsonl", json.dumps(line).encode(), "application/jsonl"), purpose="fine-tune"
    )
    orphan = await client.fine_tuning.jobs.create(
        model="base-model",
        training_file=uploaded.id,
        metadata={"tandem_run": f"{ws}/2026-01-02"},
    )
    await client.close()
    code, [run], err = await finetune(tmp_path, provider, "run", "--day", "2026-01-02")
    assert code == 0, err
    assert run["job_id"] == orphan.id and len(provider.jobs) == 1
    # The dataset was built and stored before the trainer was asked, so the gate had its
    # held-out set to judge the adopted job's model by.
    assert run["state"] in ("promoted", "rejected") and run["manifest_key"]
    assert run["scores"]["candidate"]["count"] > 0 and run["reason"]


async def test_a_run_still_waiting_for_its_job_is_followed_by_the_rerun(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    code, [run], err = await finetune(
        tmp_path, provider, "--day", "2026-01-03", TANDEM_FT_JOB_TIMEOUT_S="0"
    )
    assert code == 1, err
    assert run["state"] == "failed" and "still" in run["error"]
    code, [run], err = await finetune(tmp_path, provider, "--day", "2026-01-03")
    assert code == 0, err
    assert run["state"] == "promoted" and len(provider.jobs) == 1
    assert run["workspace_id"] == ws


async def test_preference_training_uploads_pairs_of_human_and_model_text(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases() + cases("More: "))
    code, [run], err = await finetune(tmp_path, provider, TANDEM_FT_METHOD="dpo")
    assert code == 0, err
    [job] = provider.jobs
    assert job.method == {"type": "dpo"} and run["workspace_id"] == ws
    pairs = provider.files[job.training_file].lines
    if job.validation_file:
        pairs += provider.files[job.validation_file].lines
    preferred = {p["preferred_output"][0]["content"] for p in pairs}
    rejected = {p["non_preferred_output"][0]["content"] for p in pairs}
    assert "Results were better than expected." in preferred
    assert "Results were extremely good!!!" in rejected
    assert not preferred & rejected


async def test_a_provider_outage_fails_the_run_and_the_rerun_submits_once(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    provider.failing_uploads = 3  # more than the client's retries
    code, [run], err = await finetune(tmp_path, provider, "--day", "2026-01-04")
    assert code == 1 and run["state"] == "failed" and "upload" in run["error"], err
    assert provider.jobs == []
    code, [run], err = await finetune(tmp_path, provider, "--day", "2026-01-04")
    assert code == 0, err
    assert run["state"] == "promoted" and len(provider.jobs) == 1 and run["workspace_id"] == ws


async def test_the_next_day_trains_only_after_enough_new_examples(
    tmp_path: Path, provider: FineTuneServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    code, [first], err = await finetune(tmp_path, provider, "--day", "2026-02-01")
    assert code == 0 and first["state"] == "promoted", err
    code, [second], err = await finetune(tmp_path, provider, "--day", "2026-02-02")
    assert second["state"] == "skipped" and second["new_examples"] == 0, err
    await seeder.add(ws, cases("Next: ")[:3], decided_ago_s=0.0)
    code, [third], err = await finetune(tmp_path, provider, "--day", "2026-02-03")
    assert code == 0 and third["state"] == "promoted" and third["new_examples"] == 3, err
    assert third["workspace_id"] == ws and len(provider.jobs) == 2
