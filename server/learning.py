"""Builds the learning loop's parts from the settings: the learning store (MongoDB when
configured, else SQLite in the data directory), the model registry the assistant reads, and
the object storage datasets go to (S3 in cluster mode, else a local directory: the drive's
port). The server uses it for the registry and for deleting a workspace's learning data;
``tandem finetune`` for everything."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from drive.errors import ObjectMissingError, ObjectStoreError
from drive.local_objects import LocalObjectStore
from drive.objects import ObjectStore
from learning import models
from learning.artifacts import models_prefix
from learning.pipeline import dataset_prefix
from learning.registry import ModelRegistry
from learning.store import LearningStore, Pointer

from .backends import Backends
from .settings import Settings

if TYPE_CHECKING:
    from learning.trainers.local import LocalConfig

log = logging.getLogger(__name__)


class ObjectDatasets:
    """The learning loop's dataset storage on the drive's object store port."""

    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects

    async def write(self, key: str, data: bytes) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await self._objects.put(key, chunks(), max_bytes=len(data) + 1)

    async def read(self, key: str) -> bytes | None:
        try:
            return b"".join([chunk async for chunk in self._objects.get(key)])
        except ObjectMissingError:
            return None

    async def delete_prefix(self, prefix: str) -> int:
        return await self._objects.delete_prefix(prefix)


@dataclass
class LearningPart:
    store: LearningStore
    registry: ModelRegistry
    objects: ObjectStore

    async def model_for(self, workspace_id: str) -> str | None:
        """The workspace's promoted model, or None for the configured base model."""
        return await self.registry.model_for(workspace_id)

    async def delete_workspace(self, workspace_id: str) -> None:
        """Privacy: a deleted workspace's outcomes, runs, models, datasets and adapters go."""
        await self.store.delete_workspace(workspace_id)
        await self.objects.delete_prefix(dataset_prefix(workspace_id))
        await self.objects.delete_prefix(models_prefix(workspace_id))


@contextlib.asynccontextmanager
async def open_learning_store(
    settings: Settings, backends: Backends
) -> AsyncIterator[LearningStore]:
    if backends.mongo is not None:
        from learning.mongo_store import MongoLearningStore

        mongo = MongoLearningStore(backends.mongo)
        await mongo.ensure_indexes()
        yield mongo
        return
    from learning.sqlite_store import SqliteLearningStore

    async with SqliteLearningStore(settings.data_dir / "learning.db") as sqlite:
        yield sqlite


async def open_objects(settings: Settings, backends: Backends) -> ObjectStore:
    if backends.minio is None:
        return LocalObjectStore(settings.data_dir / "objects")
    from drive.s3_objects import S3ObjectStore

    store = S3ObjectStore(backends.minio, settings.s3_bucket)
    try:
        await store.ensure_bucket()
    except ObjectStoreError as exc:
        log.warning("object storage unavailable at start: %s", exc)
    return store


@contextlib.asynccontextmanager
async def open_learning(settings: Settings, backends: Backends) -> AsyncIterator[LearningPart]:
    async with open_learning_store(settings, backends) as store:
        registry = ModelRegistry(store, cache_s=settings.ft_registry_cache_s)
        yield LearningPart(store, registry, await open_objects(settings, backends))


def local_trainer_config(settings: Settings, backends: Backends) -> LocalConfig:
    """The local trainer's settings; resolving the base copies an S3 base once."""
    from learning.trainers.local import LocalConfig, LoraSettings, TrainSettings

    spec = settings.base_model or settings.openai_model
    base = models.resolve(spec, cache_dir=settings.model_cache_dir, s3=backends.minio)
    return LocalConfig(
        base=base,
        work_dir=settings.model_cache_dir / "runs",
        lora=LoraSettings(
            rank=settings.ft_lora_rank,
            alpha=settings.ft_lora_alpha,
            dropout=settings.ft_lora_dropout,
            target_modules=settings.ft_lora_target_modules,
        ),
        train=TrainSettings(
            epochs=settings.ft_epochs,
            learning_rate=settings.ft_learning_rate,
            batch_size=settings.ft_batch_size,
            gradient_accumulation=settings.ft_gradient_accumulation,
            max_length=settings.ft_max_length,
            beta=settings.ft_dpo_beta,
            seed=settings.ft_seed,
            qlora=settings.ft_qlora,
            save_steps=settings.ft_save_steps,
        ),
        processes=settings.ft_processes,
    )


ModelLookup = Callable[[str], Awaitable[str | None]]


def model_lookup(settings: Settings, backends: Backends) -> ModelLookup:
    """``model_for`` for the assistant's workers: the workspace's promoted model or None (then
    the configured model). Needs no lifecycle of its own: MongoDB belongs to the backends, and
    the SQLite file is opened per read, which the registry's cache keeps rare."""
    if backends.mongo is not None:
        from learning.mongo_store import MongoLearningStore

        return ModelRegistry(
            MongoLearningStore(backends.mongo), cache_s=settings.ft_registry_cache_s
        ).model_for
    return ModelRegistry(
        _SqlitePointers(settings.data_dir / "learning.db"),  # type: ignore[arg-type]
        cache_s=settings.ft_registry_cache_s,
    ).model_for


class _SqlitePointers:
    """The one read the registry's ``model_for`` makes, on a short-lived connection."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def pointer(self, workspace_id: str) -> Pointer | None:
        if not self._path.exists():
            return None  # nothing was ever promoted here
        from learning.sqlite_store import SqliteLearningStore

        async with SqliteLearningStore(self._path) as store:
            return await store.pointer(workspace_id)
