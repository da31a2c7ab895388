"""``tandem finetune`` with the local trainer on a tiny model made at test time: the dataset
is stored before training, ``--dry-run`` trains nothing, a training pod killed mid-run
resumes from its checkpoint in object storage, and the shards of an Indexed Job split the
workspaces without overlap. The gate's serving path here is the scripted test model server;
tests/learning/test_self_hosted_loop.py runs the whole loop on ``tandem model serve``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from learning.shards import in_shard, shard_of
from tests.learning.seed import Seeder
from tests.learning.test_finetune_cli import cases
from tests.modelserver import ModelServer, Reply
from tests.tiny_model import build_tiny_model

_DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [c.text + " " + c.proposal for c in cases()]
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "base", corpus)


@pytest.fixture
async def serving() -> AsyncIterator[ModelServer]:
    async with ModelServer(default=Reply("OK"), model_id="tiny") as server:
        yield server


def local_env(data_dir: Path, base: Path, serving: ModelServer, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TANDEM_DATA_DIR": str(data_dir),
        "TANDEM_MODEL_CACHE_DIR": str(data_dir / "cache"),
        "TANDEM_BASE_MODEL": str(base),
        "TANDEM_FT_TRAINER": "local",
        "TANDEM_FT_MIN_EXAMPLES": "3",
        "TANDEM_FT_SETTLE_S": "0",
        "TANDEM_FT_EPOCHS": "2",
        "TANDEM_FT_BATCH_SIZE": "2",
        "TANDEM_FT_LEARNING_RATE": "0.005",
        "TANDEM_OPENAI_BASE_URL": serving.base_url,
        "TANDEM_OPENAI_MAX_RETRIES": "0",
        "TANDEM_LOG_LEVEL": "warning",
        **extra,
    }


async def start(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "finetune",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: the training child dies with it
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, list[dict[str, Any]], str]:
    out, err = await asyncio.wait_for(proc.communicate(), _DEADLINE_S)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert proc.returncode is not None
    return proc.returncode, lines, err.decode()


async def wait_for_file(path: Path, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + _DEADLINE_S
    while not path.exists():
        assert proc.returncode is None, "finetune ended before the file appeared"
        assert time.monotonic() < deadline, f"{path} did not appear"
        await asyncio.sleep(0.02)  # a file another process writes: nothing to wait on


async def test_dry_run_builds_and_shows_the_dataset_and_trains_nothing(
    tmp_path: Path, tiny_base: Path, serving: ModelServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases())
    code, [shown], err = await finish(
        await start(local_env(tmp_path, tiny_base, serving), "--dry-run")
    )
    assert code == 0, err
    assert shown["would_train"] is True and shown["dry_run"] is True
    assert shown["manifest"]["examples"]["train"] + shown["manifest"]["examples"]["validation"] == 6
    assert shown["sample"][0]["messages"][-1]["role"] == "assistant"
    assert not (tmp_path / "objects" / "learning").exists()
    assert not (tmp_path / "objects" / "models").exists()
    code, [status], err = await finish(
        await start(local_env(tmp_path, tiny_base, serving), "status")
    )
    assert status["runs"] == [] and serving.requests == []


async def test_a_training_pod_killed_mid_run_resumes_from_its_checkpoint(
    tmp_path: Path, tiny_base: Path, serving: ModelServer
) -> None:
    seeder = Seeder(tmp_path)
    ws = await seeder.workspace()
    await seeder.add(ws, cases() + cases("More: "))
    day = "2026-12-07"
    env = local_env(tmp_path, tiny_base, serving, TANDEM_FT_EPOCHS="60", TANDEM_FT_SAVE_STEPS="10")
    first = await start(env, "--day", day)
    index = tmp_path / "objects" / "models" / ws / day / "checkpoint" / "index.json"
    await wait_for_file(index, first)
    os.killpg(first.pid, signal.SIGKILL)  # the pod dies: the trainer and its child
    await first.wait()
    killed_at = json.loads(index.read_text())["step"]
    assert killed_at >= 10
    # The dataset was stored before training began, and the run says it was training.
    assert (tmp_path / "objects" / "learning" / ws / day / "manifest").exists()

    code, [run], err = await finish(await start(env, "--day", day))
    assert code == 0, err
    assert run["state"] in ("promoted", "rejected"), run
    assert run["attempts"] == 2 and run["resumed_from_step"] >= killed_at
    assert run["resumed_from"] == run["resumed_from_step"]
    assert run["steps"] > run["resumed_from_step"]
    # The whole loss curve is there: the steps before the kill came back with the checkpoint.
    steps = [point["step"] for point in run["loss"]]
    assert steps == list(range(1, run["steps"] + 1))
    manifest = json.loads(
        (tmp_path / "objects" / "models" / ws / day / "manifest.json").read_text()
    )
    assert manifest["resumed_from"] == run["resumed_from_step"]
    assert not index.exists()

    # A rerun the same day trains nothing.
    code, [again], err = await finish(await start(env, "--day", day))
    assert code == 0 and again["attempts"] == 2 and again["state"] == run["state"], err


def test_shards_split_workspaces_without_overlap_and_cover_them_all() -> None:
    workspaces = [f"ws{i:03d}" for i in range(200)]
    for shards in (1, 2, 4, 7):
        parts = [set(in_shard(workspaces, index, shards)) for index in range(shards)]
        assert set().union(*parts) == set(workspaces)
        assert sum(len(p) for p in parts) == len(workspaces)
        # A workspace always lands on the same index, and no index is left idle.
        assert all(shard_of(w, shards) == shard_of(w, shards) for w in workspaces)
        assert all(parts)
    with pytest.raises(ValueError):
        in_shard(workspaces, 4, 4)


async def test_each_index_of_the_job_trains_only_its_shard(
    tmp_path: Path, tiny_base: Path, serving: ModelServer
) -> None:
    seeder = Seeder(tmp_path)
    names = [await seeder.workspace(f"team{i}") for i in range(4)]
    for ws in names:
        await seeder.add(ws, cases(f"{ws}: ")[:3])
    seen: dict[str, int] = {}
    for index in range(2):
        env = local_env(tmp_path, tiny_base, serving, TANDEM_FT_SHARDS="2")
        env["JOB_COMPLETION_INDEX"] = str(index)
        code, runs, err = await finish(await start(env, "--dry-run"))
        assert code == 0, err
        for run in runs:
            assert run["workspace_id"] not in seen
            seen[run["workspace_id"]] = index
    assert sorted(seen) == sorted(names)
    assert all(shard_of(ws, 2) == index for ws, index in seen.items())
