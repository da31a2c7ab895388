"""Adapters by name: fetched from object storage on first use, kept loaded in one PeftModel.

Two halves, on two threads:

- ``AdapterCache`` (the event loop): reads an adapter's manifest, refuses one trained on
  another base, and copies its files once into ``{cache_dir}/{ws}/{run}/{digest}/``. Callers
  asking for the same name at once share one fetch. A name's manifest is read again at most
  every ``revalidate_s``; when its digest changed (the manifest's ``adapter_sha256``, else the
  manifest itself), the new files are fetched and the next generation loads them.
- ``LoadedAdapters`` (the model's thread only): the adapters inside the PeftModel, least
  recently used first, at most ``max_adapters``; the oldest is deleted when one more loads.

Local copies stay on disk after their adapter is unloaded (a later use loads without a fetch),
one directory per version: the cache directory grows with the adapters ever asked for, so in a
pod it is an emptyDir with a size limit.

Stored runs are immutable, so promoting a new adapter needs nothing here: the assistant asks
for the new name and it is fetched then. That is the whole of "hot reload"."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learning.artifacts import ADAPTER_DIGESTS, ADAPTER_FILES, AdapterName, Objects
from learning.models import BaseModel

from . import (
    AdapterBaseMismatchError,
    AdapterInvalidError,
    ModelNotFoundError,
    StorageUnavailableError,
)

log = logging.getLogger(__name__)

_COMPLETE = ".complete"


@dataclass(frozen=True)
class LocalAdapter:
    """One version of an adapter, complete on local disk."""

    name: AdapterName
    digest: str
    path: Path

    @property
    def key(self) -> str:
        """The PeftModel's adapter name: one per version, and free of the dots and slashes
        that module names cannot hold."""
        return "a" + hashlib.sha256(f"{self.name}\0{self.digest}".encode()).hexdigest()[:20]


def check_base(name: AdapterName, manifest: dict[str, Any], base: BaseModel) -> None:
    trained_on = (manifest.get("base_model"), manifest.get("base_revision"))
    if trained_on != (base.id, base.revision):
        raise AdapterBaseMismatchError(
            f"{name} was trained on {trained_on[0]}@{trained_on[1]}, "
            f"this server runs {base.id}@{base.revision}",
            param="model",
        )


def parse_manifest(name: AdapterName, raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise AdapterInvalidError(f"{name}'s manifest is not JSON") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("base_model"), str):
        raise AdapterInvalidError(f"{name}'s manifest names no base model")
    digests = manifest.get(ADAPTER_DIGESTS)
    if digests is not None and not (
        isinstance(digests, dict) and all(isinstance(digests.get(f), str) for f in ADAPTER_FILES)
    ):
        raise AdapterInvalidError(f"{name}'s manifest has a malformed {ADAPTER_DIGESTS}")
    return manifest


def manifest_digest(manifest: dict[str, Any], raw: bytes) -> str:
    """Which version of the files a manifest stands for."""
    digests = manifest.get(ADAPTER_DIGESTS)
    source = json.dumps(digests, sort_keys=True).encode() if digests else raw
    return hashlib.sha256(source).hexdigest()[:32]


def verify_files(name: AdapterName, manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    expected = manifest.get(ADAPTER_DIGESTS)
    if not expected:
        return
    for file, data in files.items():
        if hashlib.sha256(data).hexdigest() != expected[file]:
            raise AdapterInvalidError(f"{name}'s {file} does not match its manifest's sha256")


class AdapterCache:
    def __init__(
        self,
        objects: Objects,
        base: BaseModel,
        directory: Path,
        *,
        revalidate_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._objects = objects
        self._base = base
        self._directory = directory
        self._revalidate_s = revalidate_s
        self._clock = clock
        self._known: dict[AdapterName, tuple[LocalAdapter, float]] = {}
        self._flights: dict[AdapterName, asyncio.Task[LocalAdapter]] = {}
        self.downloads = 0
        """Adapter versions copied from object storage (what single-flight keeps at one)."""

    async def fetch(self, name: AdapterName) -> LocalAdapter:
        known = self._known.get(name)
        if known is not None and self._clock() - known[1] < self._revalidate_s:
            return known[0]
        flight = self._flights.get(name)
        if flight is None:
            flight = asyncio.create_task(self._fetch(name))
            self._flights[name] = flight
            flight.add_done_callback(lambda _: self._flights.pop(name, None))
        # Shielded: one caller going away (a closed connection) leaves the others' fetch be.
        return await asyncio.shield(flight)

    async def _fetch(self, name: AdapterName) -> LocalAdapter:
        raw = await self._read(name.manifest_key)
        if raw is None:
            self._known.pop(name, None)
            raise ModelNotFoundError(f"no adapter named {name}", param="model")
        manifest = parse_manifest(name, raw)
        check_base(name, manifest, self._base)
        digest = manifest_digest(manifest, raw)
        known = self._known.get(name)
        if known is not None and known[0].digest == digest:
            adapter = known[0]
        else:
            adapter = await self._materialize(name, digest, manifest)
        self._known[name] = (adapter, self._clock())
        return adapter

    async def _materialize(
        self, name: AdapterName, digest: str, manifest: dict[str, Any]
    ) -> LocalAdapter:
        target = self._directory / name.workspace_id / name.run / digest
        adapter = LocalAdapter(name, digest, target)
        if (target / _COMPLETE).exists():
            return adapter  # copied by an earlier process with the same cache directory
        files: dict[str, bytes] = {}
        for file in ADAPTER_FILES:
            data = await self._read(name.adapter_key(file))
            if data is None:
                raise AdapterInvalidError(f"{name} has a manifest but no {file}")
            files[file] = data
        verify_files(name, manifest, files)
        await asyncio.to_thread(_write_complete, target, files)
        self.downloads += 1
        log.info("fetched adapter %s (%s)", name, digest[:12])
        return adapter

    async def _read(self, key: str) -> bytes | None:
        try:
            return await self._objects.read(key)
        except Exception as exc:  # the port's failures, whichever store it is
            log.warning("object storage failed reading %s: %s", key, exc)
            raise StorageUnavailableError(
                f"object storage is unavailable ({type(exc).__name__})"
            ) from exc


def _write_complete(target: Path, files: dict[str, bytes]) -> None:
    """Into a temporary directory beside the target, then renamed: a crash leaves no half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        for file, data in files.items():
            (staging / file).write_bytes(data)
        (staging / _COMPLETE).touch()
        if target.exists():
            shutil.rmtree(target)  # an incomplete copy of a process that died
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class LoadedAdapters:
    """The adapters in the model. Called on the model's thread only, except ``names``."""

    def __init__(self, model: Any, max_adapters: int) -> None:
        if max_adapters < 1:
            raise ValueError("max_adapters must be at least 1")
        self._base = model
        self._peft: Any = None
        """The PeftModel, made when the first adapter loads (peft cannot hold zero)."""
        self._max = max_adapters
        self._lru: OrderedDict[str, LocalAdapter] = OrderedDict()
        self._names_lock = threading.Lock()
        self.loads = 0
        self.evictions = 0

    @property
    def base_model(self) -> Any:
        """The base's module (wrapped in the PeftModel once an adapter loads)."""
        return self._base

    def names(self) -> list[str]:
        """Loaded adapters, least recently used first (any thread)."""
        with self._names_lock:
            return [str(adapter.name) for adapter in self._lru.values()]

    @contextlib.contextmanager
    def using(self, adapter: LocalAdapter | None) -> Iterator[Any]:
        """The model to generate with: the adapter active, or with None the bare base."""
        if adapter is None:
            if self._peft is None:
                yield self._base
                return
            with self._peft.disable_adapter():
                yield self._peft
            return
        self._load(adapter)
        if self._peft.active_adapter != adapter.key:
            self._peft.set_adapter(adapter.key)  # walks every module: not per request
        yield self._peft

    def _load(self, adapter: LocalAdapter) -> None:
        if adapter.key in self._lru:
            with self._names_lock:
                self._lru.move_to_end(adapter.key)
            return
        try:
            if self._peft is None:
                from peft import PeftModel

                self._peft = PeftModel.from_pretrained(
                    self._base, str(adapter.path), adapter_name=adapter.key
                )
                self._peft.eval()
            else:
                self._peft.load_adapter(str(adapter.path), adapter_name=adapter.key)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise AdapterInvalidError(f"{adapter.name} does not load: {exc}") from exc
        self.loads += 1
        with self._names_lock:
            self._lru[adapter.key] = adapter
        stale = [k for k, a in self._lru.items() if a.name == adapter.name and k != adapter.key]
        for key in stale:
            self._delete(key)  # an older version of this name
        while len(self._lru) > self._max:
            self._delete(next(iter(self._lru)))
        log.info("loaded adapter %s (%d loaded)", adapter.name, len(self._lru))

    def _delete(self, key: str) -> None:
        # Never the last one: the new adapter is loaded before anything is deleted.
        self._peft.delete_adapter(key)
        with self._names_lock:
            evicted = self._lru.pop(key)
        self.evictions += 1
        log.info("unloaded adapter %s", evicted.name)
