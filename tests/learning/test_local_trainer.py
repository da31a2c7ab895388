"""The local trainer on a tiny model made at test time: TRL + PEFT in a child process, the
adapter and manifest in object storage, loss falling on the train split; SFT and DPO."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from drive.local_objects import LocalObjectStore
from learning.artifacts import ADAPTER_FILES, AdapterName, read_manifest
from learning.dataset import jsonl, sha256
from learning.models import resolve
from learning.trainers import TrainingError, TrainingRequest
from learning.trainers.local import LocalConfig, LocalTrainer, TrainSettings
from server.learning import ObjectDatasets
from tests.tiny_model import build_tiny_model

PAIRS = [
    ("teh cat sat", "the cat sat"),
    ("we shiped it", "we shipped it"),
    ("see you on monday", "see you on Monday"),
    ("a nice colour", "a nice color"),
    ("results were good", "results beat the plan"),
    ("call me maybe", "call me"),
]


def prompt(text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You rewrite text. Reply with the replacement only."},
        {"role": "user", "content": f"Instruction: fix it\n<selection>\n{text}\n</selection>"},
    ]


def sft_lines() -> bytes:
    return jsonl({"messages": [*prompt(a), {"role": "assistant", "content": b}]} for a, b in PAIRS)


def preference_lines() -> bytes:
    return jsonl(
        {
            "input": {"messages": prompt(a)},
            "preferred_output": [{"role": "assistant", "content": b}],
            "non_preferred_output": [{"role": "assistant", "content": f"Sure! {a}!!!"}],
        }
        for a, b in PAIRS
    )


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [f"{a} {b}" for a, b in PAIRS]
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "base", corpus)


def trainer(base: Path, tmp_path: Path, **train: Any) -> tuple[LocalTrainer, ObjectDatasets]:
    objects = ObjectDatasets(LocalObjectStore(tmp_path / "objects"))
    settings = TrainSettings(**{"epochs": 8.0, "learning_rate": 5e-3, "batch_size": 2, **train})
    config = LocalConfig(base=resolve(str(base)), work_dir=tmp_path / "work", train=settings)
    return LocalTrainer(config, objects), objects


def request(method: str, train: bytes) -> TrainingRequest:
    return TrainingRequest(
        workspace_id="wsA",
        run="2026-12-07",
        method=method,
        train=train,
        validation=b"",
        dataset_sha256=sha256(train),
    )


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.mark.parametrize(
    ("method", "lines"), [("supervised", sft_lines), ("dpo", preference_lines)]
)
async def test_training_stores_an_adapter_whose_training_loss_fell(
    tiny_base: Path, tmp_path: Path, method: str, lines: Any
) -> None:
    local, objects = trainer(tiny_base, tmp_path)
    events: list[dict[str, Any]] = []

    async def progress(event: dict[str, Any]) -> None:
        events.append(event)

    result = await local.train(request(method, lines()), progress)

    name = AdapterName.parse(result.model_id)
    assert str(name) == "wsA/2026-12-07"
    for file in ADAPTER_FILES:
        assert await objects.read(name.adapter_key(file))
    config = json.loads(await objects.read(name.adapter_key("adapter_config.json")) or b"")
    assert config["peft_type"] == "LORA" and config["base_model_name_or_path"] == str(tiny_base)
    manifest = await read_manifest(objects, name)
    base = resolve(str(tiny_base))
    assert manifest["base_model"] == base.id and manifest["base_revision"] == base.revision
    assert manifest["dataset_sha256"] == sha256(lines())
    for file, digest in manifest["adapter_sha256"].items():
        assert sha256(await objects.read(name.adapter_key(file)) or b"") == digest
    assert manifest["hyperparameters"]["lora"]["rank"] == 16
    losses = [point["loss"] for point in manifest["loss"]]
    assert len(losses) == manifest["steps"] == 24  # 6 examples / batch 2 x 8 epochs
    assert mean(losses[-3:]) < mean(losses[:3]), losses
    # Progress came as it trained: every step, with what a person watches.
    steps = [e["step"] for e in events]
    assert steps == list(range(1, 25))
    assert all(e["total_steps"] == 24 and e["eta_s"] is not None for e in events)
    if method == "supervised":
        assert all(e["tokens_per_s"] > 0 for e in events)
    # Checkpoints are only for resuming: none is left once the adapter is stored.
    assert not (tmp_path / "objects" / name.key("checkpoint")).exists()


async def test_a_training_that_fails_says_why(tiny_base: Path, tmp_path: Path) -> None:
    local, _ = trainer(tiny_base, tmp_path)
    bad = jsonl([{"messages": "not a list"}])

    async def progress(event: dict[str, Any]) -> None:
        raise AssertionError("no step can be taken")

    with pytest.raises(TrainingError, match="training exited with 1"):
        await local.train(request("supervised", bad), progress)


def test_a_long_loss_curve_is_thinned_evenly_for_the_run_record() -> None:
    from learning.pipeline import thin

    points = list(range(2000))
    kept = thin(points, 500)
    assert len(kept) == 500 and kept[0] == 0 and kept[-1] == 1999
    assert kept == sorted(set(kept))
    assert thin(points[:10], 500) == points[:10]


async def test_data_parallel_under_torchrun_shares_each_step_over_the_processes(
    tiny_base: Path, tmp_path: Path
) -> None:
    """Two CPU processes (gloo) stand in for two GPUs of a node: torchrun launches them,
    each takes a batch of two per step, so an epoch of six examples is two steps, not three."""
    local, objects = trainer(tiny_base, tmp_path)
    local = LocalTrainer(dataclasses.replace(local.config, processes=2), objects)

    async def progress(event: dict[str, Any]) -> None:
        return None

    result = await local.train(request("supervised", sft_lines()), progress)
    assert result.details["processes"] == 2
    assert result.details["steps"] == 16  # 8 epochs x ceil(6 / (2 x 2))
    manifest = await read_manifest(objects, AdapterName.parse(result.model_id))
    assert manifest["processes"] == 2 and len(manifest["loss"]) == 16
