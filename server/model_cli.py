"""``tandem model``: the model server of the learning loop's adapters, and vLLM's sidecar.

tandem model serve [--host H] [--port P]
    OpenAI-compatible chat completions over TANDEM_BASE_MODEL and the LoRA adapters in
    object storage (learning.serving); ``model`` is the base's id or ``{workspace}/{run}``.
    TANDEM_MODEL_HOST, TANDEM_MODEL_PORT, TANDEM_MODEL_MAX_ADAPTERS,
    TANDEM_MODEL_MAX_NEW_TOKENS, TANDEM_MODEL_CACHE_DIR (adapters go to its adapters/).
tandem model sync --dir DIR [--interval S] [--once]
    mirrors every registered adapter of the served base into DIR/{workspace}/{run}/ for
    vLLM's filesystem resolver (VLLM_LORA_RESOLVER_CACHE_DIR=DIR), and removes those no
    longer registered. An adapter appears whole or not at all: it is written into a
    hidden directory and renamed into place."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learning.artifacts import (
    ADAPTER_DIGESTS,
    ADAPTER_FILES,
    AdapterName,
    ArtifactError,
    Objects,
    read_manifest,
)
from learning.store import LearningStore

from . import logs
from .backends import open_backends
from .learning import ObjectDatasets, open_learning_store, open_objects
from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from learning.serving.app import ModelServer

log = logging.getLogger(__name__)

_STAGING = ".partial"
"""Under DIR: where adapters are written before the rename (vLLM looks up names, never this)."""


def add_parser(commands: Any) -> None:
    model = commands.add_parser("model", help="serve adapters, or mirror them for vLLM")
    actions = model.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="OpenAI-compatible chat over the base + adapters")
    serve.add_argument("--host", help="bind address (TANDEM_MODEL_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (TANDEM_MODEL_PORT, default 8002)")
    serve.set_defaults(run=_serve)
    sync = actions.add_parser("sync", help="mirror registered adapters into a directory")
    sync.add_argument("--dir", dest="directory", type=Path, required=True)
    sync.add_argument(
        "--interval", type=float, default=30.0, help="seconds between passes (default 30)"
    )
    sync.add_argument("--once", action="store_true", help="one pass, then exit")
    sync.set_defaults(run=_sync)


def _settings(overrides: dict[str, Any] | None = None) -> Settings | None:
    try:
        settings = Settings.load(overrides=overrides)
    except SettingsError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return None
    logs.configure(settings.log_level)
    return settings


# -- serve -------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from learning.serving.app import create_app

    settings = _settings({"model_host": args.host, "model_port": args.port})
    if settings is None:
        return 2
    if not settings.base_model:
        print("tandem: `model serve` needs TANDEM_BASE_MODEL", file=sys.stderr)
        return 2
    app = create_app(lambda: open_server(settings))
    config = uvicorn.Config(
        app,
        host=settings.model_host,
        port=settings.model_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    uvicorn.Server(config).run()
    return 0


@contextlib.asynccontextmanager
async def open_server(settings: Settings) -> AsyncIterator[ModelServer]:
    """The model server of these settings: the base loaded, adapters from their object store."""
    from learning import models
    from learning.serving.app import open_model_server

    assert settings.base_model
    async with open_backends(settings, writer=False) as backends:
        objects = ObjectDatasets(await open_objects(settings, backends))
        base = await asyncio.to_thread(
            models.resolve,
            settings.base_model,
            cache_dir=settings.model_cache_dir,
            s3=backends.minio,
        )
        async with open_model_server(
            base,
            objects,
            cache_dir=settings.model_cache_dir / "adapters",
            max_adapters=settings.model_max_adapters,
            max_new_tokens=settings.model_max_new_tokens,
        ) as server:
            log.info("serving %s@%s", base.id, base.revision)
            yield server


# -- sync --------------------------------------------------------------------------------------


@dataclass
class Mirrored:
    """One pass of ``tandem model sync``."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Registered but not mirrored, and why (another base, files missing)."""


async def mirror_adapters(
    store: LearningStore, objects: Objects, directory: Path, *, base_model: str | None = None
) -> Mirrored:
    """Makes ``directory`` hold exactly the registered adapters (of ``base_model``, an id with
    an optional ``@revision``, when given). Runs are immutable, so one already there is kept."""
    done = Mirrored()
    wanted: set[AdapterName] = set()
    for workspace in await store.workspaces():
        for entry in await store.models(workspace):
            try:
                name = AdapterName.parse(str(entry.get("model_id", "")))
            except ArtifactError:
                continue  # a provider's fine-tuned model: nothing to mirror
            target = directory / name.workspace_id / name.run
            if _complete(target):
                wanted.add(name)
                done.kept.append(str(name))
                continue
            why = await _copy(objects, name, target, directory / _STAGING, base_model)
            if why is None:
                wanted.add(name)
                done.added.append(str(name))
            else:
                done.skipped[str(name)] = why
                log.warning("not mirroring %s: %s", name, why)
    for target in _mirrored(directory):
        name = AdapterName(target.parent.name, target.name)
        if name not in wanted:
            await asyncio.to_thread(_remove, target, directory / _STAGING)
            done.removed.append(str(name))
    return done


def _complete(target: Path) -> bool:
    return all((target / file).is_file() for file in ADAPTER_FILES)


async def _copy(
    objects: Objects, name: AdapterName, target: Path, staging: Path, base_model: str | None
) -> str | None:
    """None when ``target`` now holds the adapter, else why not."""
    try:
        manifest = await read_manifest(objects, name)
    except ArtifactError as exc:
        return str(exc)
    if base_model is not None:
        base_id, _, revision = base_model.partition("@")
        if manifest.get("base_model") != base_id or (
            revision and manifest.get("base_revision") != revision
        ):
            return f"trained on {manifest.get('base_model')}@{manifest.get('base_revision')}"
    files: dict[str, bytes] = {}
    expected = manifest.get(ADAPTER_DIGESTS) or {}
    for file in ADAPTER_FILES:
        data = await objects.read(name.adapter_key(file))
        if data is None:
            return f"{file} is missing"
        if file in expected and hashlib.sha256(data).hexdigest() != expected[file]:
            return f"{file} does not match its manifest's sha256"
        files[file] = data
    await asyncio.to_thread(_place, target, staging, files)
    return None


def _place(target: Path, staging: Path, files: dict[str, bytes]) -> None:
    staging.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=staging))
    try:
        for file, data in files.items():
            (partial / file).write_bytes(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            _remove(target, staging)  # a half-written target from before atomic writes
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _remove(target: Path, staging: Path) -> None:
    """Renamed out of sight first, so the resolver never finds half an adapter."""
    staging.mkdir(parents=True, exist_ok=True)
    doomed = Path(tempfile.mkdtemp(dir=staging))
    os.replace(target, doomed / "adapter")
    shutil.rmtree(doomed)
    with contextlib.suppress(OSError):
        target.parent.rmdir()  # the workspace's directory, once it is empty


def _mirrored(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    found = []
    for workspace in sorted(directory.iterdir()):
        if workspace.name.startswith(".") or not workspace.is_dir():
            continue
        for run in sorted(workspace.iterdir()):
            if not run.is_dir():
                continue
            try:
                AdapterName.parse(f"{workspace.name}/{run.name}")
            except ArtifactError:
                continue  # not ours: leave it
            found.append(run)
    return found


def _sync(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    if args.interval <= 0:
        print("tandem: --interval must be positive", file=sys.stderr)
        return 2
    return asyncio.run(_sync_loop(settings, args.directory, args.interval, args.once))


async def _sync_loop(settings: Settings, directory: Path, interval_s: float, once: bool) -> int:
    async with (
        open_backends(settings, writer=False) as backends,
        open_learning_store(settings, backends) as store,
    ):
        objects = ObjectDatasets(await open_objects(settings, backends))
        while True:
            try:
                done = await mirror_adapters(
                    store, objects, directory, base_model=settings.base_model
                )
            except Exception:
                log.exception("mirroring adapters into %s failed", directory)
                if once:
                    return 1
            else:
                log.info(
                    "adapters: %d added, %d removed, %d kept, %d skipped",
                    len(done.added),
                    len(done.removed),
                    len(done.kept),
                    len(done.skipped),
                )
                if once:
                    return 0
            # The registry is another process's state: there is nothing to wait on.
            await asyncio.sleep(interval_s)
