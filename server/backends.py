"""Builds the storage and fan-out parts the settings ask for: the embedded default (SQLite in
the data directory, nothing shared) or cluster mode (Redis stream log, S3 snapshots, presence
over Redis pub/sub)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from minio import Minio

from sync.presence import PresenceBus
from sync.sqlite_store import SqliteStore
from sync.store import DocumentStore, LogTail, StoreError
from sync.types import Origin

from .settings import Settings

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str | None]]
"""A probe: None when healthy, else what is wrong."""


@dataclass
class Backends:
    store: DocumentStore
    tail: LogTail | None = None
    presence: PresenceBus | None = None
    readiness: dict[str, Check] = field(default_factory=dict)
    """Failing any of these makes the pod unready: it cannot take edits."""
    degradations: dict[str, Check] = field(default_factory=dict)
    """Reported by /readyz but not failing it: edits stay safe (an S3 outage delays compaction)."""
    redis: Any = None
    """The pod's Redis client in cluster mode (queues, rate limits, leases), else None."""
    mongo: Any = None
    """The MongoDB database (pymongo ``AsyncDatabase``) when TANDEM_MONGODB_URL is set."""
    minio: Minio | None = None
    """The object storage client in cluster mode."""


@contextlib.asynccontextmanager
async def open_backends(settings: Settings, *, writer: bool = True) -> AsyncIterator[Backends]:
    """``writer=False`` for commands that only read documents: embedded, only one process (the
    server) may append to the data directory's document log."""
    async with _storage(settings, writer) as backends, _mongo(settings, backends):
        yield backends


@contextlib.asynccontextmanager
async def _mongo(settings: Settings, backends: Backends) -> AsyncIterator[None]:
    """Accounts, the drive's tree and the assistant's records live in MongoDB when it is
    configured; otherwise each part keeps a SQLite file in the data directory."""
    async with open_mongo(settings) as database:
        if database is None:
            yield
            return
        backends.mongo = database

        async def mongo_ready() -> str | None:
            try:
                await database.client.admin.command("ping")
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                return f"unreachable: {type(exc).__name__}"
            return None

        backends.readiness["mongodb"] = mongo_ready
        yield


@contextlib.asynccontextmanager
async def open_mongo(settings: Settings) -> AsyncIterator[Any]:
    """The MongoDB database (``AsyncDatabase``) of TANDEM_MONGODB_URL, or None without one;
    the client, with bounded timeouts, is closed on exit."""
    if not settings.mongodb_url:
        yield None
        return
    from pymongo import AsyncMongoClient

    timeout_ms = int(settings.mongodb_timeout_s * 1000)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        tz_aware=True,
    )
    try:
        yield client.get_default_database(default="tandem")
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def _storage(settings: Settings, writer: bool) -> AsyncIterator[Backends]:
    if settings.embedded:
        path = settings.data_dir / "tandem.db"
        synchronous = settings.sqlite_synchronous.upper()
        async with SqliteStore(path, writer=writer, synchronous=synchronous) as store:
            yield Backends(store=store)
        return
    async with _cluster(settings) as backends:
        yield backends


@contextlib.asynccontextmanager
async def _cluster(settings: Settings) -> AsyncIterator[Backends]:
    from redis.asyncio import Redis

    from sync.redis_presence import RedisPresence
    from sync.redis_s3_store import RedisS3Store
    from sync.snapshot_store import SnapshotStore
    from sync.stream_follower import ShardedFollower

    assert settings.redis_url and settings.s3_endpoint
    redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        # No health_check_interval: with it, presence removals relayed over pub/sub were lost
        # in 2 of 5 full test runs (redis-py 8.1); TCP keepalive finds dead connections instead.
        socket_keepalive=True,
    )
    for warning in await redis_durability_warnings(redis):
        log.warning("redis: %s", warning)
    minio = s3_client(
        settings.s3_endpoint,
        settings.s3_access_key,
        settings.s3_secret_key,
        secure=settings.s3_secure,
        timeout_s=settings.s3_timeout_s,
    )
    snapshots = SnapshotStore(minio, settings.s3_bucket)
    try:
        await snapshots.ensure_bucket()
    except StoreError as exc:
        # Edits only need Redis; compaction retries until object storage is back.
        log.warning("object storage unavailable at start: %s", exc)
    store = RedisS3Store(redis, snapshots)

    async def redis_ready() -> str | None:
        try:
            await redis.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return f"unreachable: {type(exc).__name__}"
        return None

    async def s3_ready() -> str | None:
        try:
            await snapshots.reachable()
        except StoreError:
            return "unreachable: compaction is delayed, edits are safe in Redis"
        return None

    try:
        async with (
            RedisPresence(redis, Origin(settings.pod_id)) as presence,
            ShardedFollower(
                redis, Origin(settings.pod_id), shards=settings.redis_readers
            ) as follower,
        ):
            yield Backends(
                store=store,
                tail=follower,
                presence=presence,
                readiness={"redis": redis_ready, "presence": presence_check(presence)},
                degradations={"s3": s3_ready},
                redis=redis,
                minio=minio,
            )
    finally:
        await store.aclose()


def presence_check(presence: Any) -> Check:
    """Unready while cross-pod presence has no subscription: this pod's users would not see
    the cursors of people on other pods, nor they theirs."""

    async def check() -> str | None:
        return None if presence.subscribed else "presence not subscribed; resubscribing"

    return check


def s3_client(
    endpoint: str,
    access_key: str | None,
    secret_key: str | None,
    *,
    secure: bool,
    timeout_s: float = 10.0,
) -> Minio:
    """The minio SDK's default pool retries for minutes on a dead endpoint; ours gives up
    within a bounded time, and compaction retries later on its own schedule."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503)),
        maxsize=16,
    )
    return Minio(
        endpoint, access_key=access_key, secret_key=secret_key, secure=secure, http_client=http
    )


async def redis_durability_warnings(redis: object) -> list[str]:
    """LESSONS: an allkeys-* eviction policy silently deletes document logs, and without AOF a
    Redis restart loses what it acknowledged. Managed services may hide CONFIG: say so."""
    from redis.exceptions import RedisError

    try:
        policy = (await redis.config_get("maxmemory-policy")).get("maxmemory-policy", "")  # type: ignore[attr-defined]
        aof = (await redis.config_get("appendonly")).get("appendonly", "")  # type: ignore[attr-defined]
    except RedisError as exc:
        return [f"cannot read CONFIG ({exc}); make sure of noeviction or volatile-* and AOF"]
    warnings = []
    if str(policy).startswith("allkeys"):
        warnings.append(f"maxmemory-policy {policy} can evict document logs: use noeviction")
    if aof != "yes":
        warnings.append("appendonly is off: a Redis restart loses acknowledged edits")
    return warnings
