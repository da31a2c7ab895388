"""``tandem finetune``: the daily CronJob of the learning loop, and its operator commands.

    tandem finetune [run] [--workspace W ...] [--day YYYY-MM-DD]
        label settled outcomes, build and store datasets, train, evaluate, promote; visits
        every workspace with suggestions (or the ones named). Safe to rerun the same day.
    tandem finetune status [--workspace W ...]     the registry and the runs, as JSON
    tandem finetune promote WORKSPACE MODEL        make a registered model current
    tandem finetune rollback WORKSPACE             back to the previous model (or the base)

Each command prints one JSON object per workspace on stdout; logs go to stderr."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from assistant.records import Records
from learning.dataset import DatasetLimits
from learning.pipeline import Pipeline, RunConfig
from learning.provider import Provider, ProviderError
from learning.registry import ModelRegistry, RegistryError

from . import logs
from .access.wiring import open_directory
from .backends import Backends, open_backends
from .learning import ObjectDatasets, open_learning
from .settings import Settings, SettingsError

log = logging.getLogger(__name__)


def add_parser(commands: Any) -> None:
    finetune = commands.add_parser(
        "finetune", help="the learning loop: datasets, fine-tuning, evaluation, promotion"
    )
    _run_options(finetune)
    finetune.set_defaults(run=_main, action="run")
    actions = finetune.add_subparsers(dest="action")
    run = actions.add_parser("run", help="train where there are enough new examples (default)")
    _run_options(run)
    status = actions.add_parser("status", help="registry and runs per workspace")
    status.add_argument("--workspace", action="append", default=[])
    promote = actions.add_parser("promote", help="make a registered model current")
    promote.add_argument("workspace")
    promote.add_argument("model")
    rollback = actions.add_parser("rollback", help="back to the previous model")
    rollback.add_argument("workspace")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", action="append", default=[], help="only these")
    parser.add_argument("--day", help="the run's day (UTC, YYYY-MM-DD); default today")


def _main(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        return asyncio.run(_dispatch(settings, args))
    except (RegistryError, ProviderError) as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 1


async def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    # Only reads documents: a writer would lock a server out of the data directory.
    async with (
        open_backends(settings, writer=False) as backends,
        open_learning(settings, backends) as part,
    ):
        registry = ModelRegistry(part.store, cache_s=0.0)
        match args.action:
            case "promote":
                await registry.promote(args.workspace, args.model, by="cli")
                _print(await registry.status(args.workspace))
                return 0
            case "rollback":
                await registry.rollback(args.workspace)
                _print(await registry.status(args.workspace))
                return 0
            case "status":
                for workspace_id in args.workspace or await part.store.workspaces():
                    _print(await registry.status(workspace_id))
                return 0
        async with (
            open_directory(settings, backends.mongo) as directory,
            _records(settings, backends) as records,
            _provider(settings) as provider,
        ):
            pipeline = Pipeline(
                config=run_config(settings),
                directory=directory,
                records=records,
                store=part.store,
                source=backends.store,
                objects=ObjectDatasets(part.objects),
                provider=provider,
            )
            failures = 0
            for workspace_id in args.workspace or await records.workspaces():
                try:
                    _print(await pipeline.run(workspace_id, args.day))
                except Exception as exc:
                    # One workspace's trouble must not stop the others' runs.
                    log.exception("fine-tune run for %s failed", workspace_id)
                    _print({"workspace_id": workspace_id, "state": "error", "error": str(exc)})
                    failures += 1
            return 1 if failures else 0


def run_config(settings: Settings) -> RunConfig:
    return RunConfig(
        base_model=settings.ft_base_model or settings.openai_model,
        method=settings.ft_method,
        min_examples=settings.ft_min_examples,
        settle_s=settings.ft_settle_s,
        limits=DatasetLimits(
            max_per_user=settings.ft_max_per_user,
            max_example_chars=settings.ft_max_example_chars,
            validation_fraction=settings.ft_validation_fraction,
        ),
        poll_s=settings.ft_poll_s,
        job_timeout_s=settings.ft_job_timeout_s,
        eval_examples=settings.ft_eval_examples,
        promote_margin=settings.ft_promote_margin,
    )


@contextlib.asynccontextmanager
async def _provider(settings: Settings) -> AsyncIterator[Provider]:
    provider = Provider(
        base_url=settings.ft_base_url or settings.openai_base_url,
        api_key=settings.ft_api_key or settings.openai_api_key,
        timeout_s=settings.ft_request_timeout_s,
    )
    try:
        yield provider
    finally:
        await provider.aclose()


@contextlib.asynccontextmanager
async def _records(settings: Settings, backends: Backends) -> AsyncIterator[Records]:
    """The assistant's records, where its wiring keeps them."""
    if backends.mongo is not None:
        from assistant.mongo_records import MongoRecords

        yield MongoRecords(backends.mongo)
        return
    from assistant.sqlite_records import SqliteRecords

    async with SqliteRecords(settings.data_dir / "assistant.db") as sqlite:
        yield sqlite


def _print(value: dict[str, Any]) -> None:
    print(json.dumps(value, default=str, sort_keys=True), flush=True)
