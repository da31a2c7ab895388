"""``tandem finetune``: the daily CronJob of the learning loop, and its operator commands.

    tandem finetune [run] [--workspace W ...] [--day YYYY-MM-DD] [--dry-run]
                    [--shard I --shards N]
        label settled outcomes, build and store datasets, train (TANDEM_FT_TRAINER: local
        or openai-jobs), evaluate through the serving path, promote; visits every workspace
        with suggestions (or the ones named) of this shard. Safe to rerun the same day.
        --dry-run builds and shows each dataset, stores nothing and trains nothing.
    tandem finetune status [--workspace W ...]     the registry and the runs, as JSON
    tandem finetune promote WORKSPACE MODEL        make a registered model current
    tandem finetune rollback WORKSPACE             back to the previous model (or the base)

The shard defaults to JOB_COMPLETION_INDEX of TANDEM_FT_SHARDS (an Indexed Job's pods).
Each command prints one JSON object per workspace on stdout; progress and logs go to stderr
(a progress bar on a terminal, JSON lines otherwise). It exits 1 when any workspace's run
failed, so the Job's pod for that shard is retried (backoffLimitPerIndex) and resumes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from assistant.model_client import ModelClient, ModelError
from assistant.records import Records
from learning import progress, shards
from learning.dataset import DatasetLimits
from learning.evaluation import AnswerError
from learning.pipeline import Pipeline, RunConfig
from learning.registry import ModelRegistry, RegistryError
from learning.trainers import Trainer, TrainingError

from . import logs
from .access.wiring import open_directory
from .assistant.wiring import model_config, open_thread_store
from .backends import Backends, open_backends
from .learning import ObjectDatasets, open_learning
from .settings import Settings, SettingsError

log = logging.getLogger(__name__)


def add_parser(commands: Any) -> None:
    finetune = commands.add_parser(
        "finetune", help="the learning loop: datasets, training, evaluation, promotion"
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
    parser.add_argument(
        "--dry-run", action="store_true", help="build and show the datasets; train nothing"
    )
    parser.add_argument("--shard", type=int, help="this shard (default JOB_COMPLETION_INDEX)")
    parser.add_argument("--shards", type=int, help="of this many (default TANDEM_FT_SHARDS)")


def _main(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        return asyncio.run(_dispatch(settings, args))
    except (RegistryError, TrainingError, ValueError) as exc:
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
        objects = ObjectDatasets(part.objects)
        watch = progress.for_stream(sys.stderr)
        async with (
            open_directory(settings, backends.mongo) as directory,
            _records(settings, backends) as records,
            open_thread_store(settings, backends) as threads,
            _trainer(settings, backends, objects) as trainer,
            _serving_path(settings) as answerer,
        ):
            pipeline = Pipeline(
                config=run_config(settings),
                directory=directory,
                records=records,
                store=part.store,
                source=backends.store,
                objects=objects,
                trainer=trainer,
                answerer=answerer,
                watch=watch,
                threads=threads,
            )
            count = args.shards or settings.ft_shards
            index = shards.job_index() if args.shard is None else args.shard
            workspaces = args.workspace or sorted(
                {*await records.workspaces(), *await threads.judged_workspaces()}
            )
            failures = 0
            for workspace_id in shards.in_shard(workspaces, index, count):
                try:
                    if args.dry_run:
                        _print(await pipeline.preview(workspace_id, args.day))
                        continue
                    run = await pipeline.run(workspace_id, args.day)
                    failures += run["state"] == "failed"
                    _print(run)
                except Exception as exc:
                    # One workspace's trouble must not stop the others' runs.
                    log.exception("fine-tune run for %s failed", workspace_id)
                    _print({"workspace_id": workspace_id, "state": "error", "error": str(exc)})
                    failures += 1
            watch.close()
            return 1 if failures else 0


def run_config(settings: Settings) -> RunConfig:
    return RunConfig(
        base_model=settings.openai_model,
        method=settings.ft_method,
        min_examples=settings.ft_min_examples,
        settle_s=settings.ft_settle_s,
        limits=DatasetLimits(
            max_per_user=settings.ft_max_per_user,
            max_example_chars=settings.ft_max_example_chars,
            validation_fraction=settings.ft_validation_fraction,
        ),
        eval_examples=settings.ft_eval_examples,
        promote_margin=settings.ft_promote_margin,
        max_attempts=settings.ft_max_attempts,
        serve_wait_s=settings.ft_serve_wait_s,
    )


@contextlib.asynccontextmanager
async def _trainer(
    settings: Settings, backends: Backends, objects: ObjectDatasets
) -> AsyncIterator[Trainer]:
    if settings.ft_trainer == "local":
        from learning.trainers.local import LocalTrainer

        from .learning import local_trainer_config

        yield LocalTrainer(local_trainer_config(settings, backends), objects)
        return
    from learning.trainers.openai_jobs import OpenAIJobsTrainer, Provider

    provider = Provider(
        base_url=settings.ft_base_url or settings.openai_base_url,
        api_key=settings.ft_api_key or settings.openai_api_key,
        timeout_s=settings.ft_request_timeout_s,
    )
    try:
        yield OpenAIJobsTrainer(
            provider,
            base_model=settings.ft_base_model or settings.openai_model,
            poll_s=settings.ft_poll_s,
            timeout_s=settings.ft_job_timeout_s,
        )
    finally:
        await provider.aclose()


class ServingPath:
    """The gate's answers through the assistant's own model client and endpoint, greedy."""

    def __init__(self, client: ModelClient) -> None:
        self._client = client

    async def complete(self, model: str, messages: list[dict[str, str]]) -> str:
        async def keep(_: str) -> bool:
            return True

        try:
            return (await self._client.stream(messages, keep, model=model)).text
        except ModelError as exc:
            raise AnswerError(f"{model}: {exc.reason}") from None


@contextlib.asynccontextmanager
async def _serving_path(settings: Settings) -> AsyncIterator[ServingPath]:
    config = model_config(settings)
    client = ModelClient(dataclasses.replace(config, temperature=0.0, stream_usage=False))
    try:
        yield ServingPath(client)
    finally:
        await client.aclose()


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
