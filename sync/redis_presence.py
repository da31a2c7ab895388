"""Awareness between pods over Redis pub/sub, one channel per open document.

Pub/sub drops messages across reconnects, which is acceptable only because awareness is
ephemeral (clients renew it every 15 s); document updates never travel this way."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Self

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import metrics
from .cancellation import reraise_if_cancelled
from .presence import PresenceListener
from .types import DocId, Origin

log = logging.getLogger(__name__)

_PREFIX = "tandem:doc:"
_SUFFIX = ":presence"
_SEP = b"\n"


def channel(doc_id: DocId) -> str:
    return f"{_PREFIX}{doc_id}{_SUFFIX}"


class RedisPresence:
    def __init__(
        self, redis: Redis, origin: Origin, *, queue_size: int = 4096, backoff_max_s: float = 5.0
    ) -> None:
        self._redis = redis
        self._origin = origin.encode()
        self._pubsub: Any = None
        self._outbox: asyncio.Queue[tuple[DocId, bytes]] = asyncio.Queue(queue_size)
        self._listener: PresenceListener | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._backoff_max_s = backoff_max_s

    def listen(self, listener: PresenceListener) -> None:
        self._listener = listener

    async def __aenter__(self) -> Self:
        self._pubsub = self._redis.pubsub()
        # A channel of the pod's own keeps the subscription open while no document is.
        await self._pubsub.subscribe(f"tandem:pod:{self._origin.decode()}")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._receive()), loop.create_task(self._send())]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
            await self._pubsub.aclose()

    def publish(self, doc_id: DocId, payload: bytes) -> None:
        try:
            self._outbox.put_nowait((doc_id, payload))
        except asyncio.QueueFull:
            metrics.PRESENCE_DROPPED.inc()

    async def watch(self, doc_id: DocId) -> None:
        await self._pubsub.subscribe(channel(doc_id))

    async def unwatch(self, doc_id: DocId) -> None:
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
            await self._pubsub.unsubscribe(channel(doc_id))

    async def _send(self) -> None:
        backoff = 0.1
        while True:
            doc_id, payload = await self._outbox.get()
            batch = [(doc_id, payload)]
            while not self._outbox.empty() and len(batch) < 256:
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for doc, data in batch:
                        pipe.publish(channel(doc), self._origin + _SEP + data)
                    await pipe.execute()
                backoff = 0.1
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                reraise_if_cancelled(exc)
                metrics.PRESENCE_DROPPED.inc(len(batch))
                log.warning("publishing presence failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)

    async def _receive(self) -> None:
        backoff = 0.1
        while True:
            try:
                async for message in self._pubsub.listen():
                    backoff = 0.1
                    if message["type"] == "message":
                        self._deliver(message["channel"], message["data"])
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                reraise_if_cancelled(exc)
                # The next command reconnects and re-subscribes every channel (on_connect).
                log.warning("presence subscription lost (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                    await self._pubsub.ping()

    def _deliver(self, raw_channel: bytes, data: bytes) -> None:
        origin, sep, payload = data.partition(_SEP)
        if not sep or origin == self._origin or self._listener is None:
            return  # our own echo, or not ours to read
        name = raw_channel.decode()
        if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
            doc_id = DocId(name[len(_PREFIX) : -len(_SUFFIX)])
            self._listener(doc_id, Origin(origin.decode(errors="replace")), payload)
