"""Awareness between pods over Redis pub/sub, one channel per open document.

Pub/sub drops messages across reconnects, which is acceptable only because awareness is
ephemeral (clients renew it every 15 s); document updates never travel this way.

The receiving loop survives any error, not only lost connections: redis-py's pub/sub has been
seen here to fail after a Valkey restart with errors it does not expect (``RuntimeError:
read() called while another coroutine is already waiting``, ``ResponseError: unknown
subcommand 'MAINT_NOTIFICATIONS'``), and a loop that died of one left cross-pod presence
silently dead while documents kept syncing. Each failure is counted
(``tandem_background_errors_total{loop="presence_receive"}``), logged once per kind, and
answered with a new subscription of every watched channel, after a backoff; ``subscribed``
says whether one stands (``/readyz`` fails while it does not)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Self

from redis.asyncio import Redis

from . import metrics
from .cancellation import reraise_if_cancelled
from .presence import ASK_FOR_PRESENCE, PresenceListener
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
        self._watched: set[DocId] = set()
        self._subscribed = asyncio.Event()
        self._logged: set[str] = set()

    @property
    def subscribed(self) -> bool:
        """A subscription stands and its receiving loop is reading it."""
        return self._subscribed.is_set()

    def listen(self, listener: PresenceListener) -> None:
        self._listener = listener

    async def __aenter__(self) -> Self:
        await self._subscribe()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._receive()), loop.create_task(self._send())]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    def publish(self, doc_id: DocId, payload: bytes) -> None:
        try:
            self._outbox.put_nowait((doc_id, payload))
        except asyncio.QueueFull:
            metrics.PRESENCE_DROPPED.inc()

    async def _subscribe(self) -> None:
        """A new pub/sub connection subscribed to the pod's own channel (which keeps it open
        while no document is) and every watched document's."""
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(
            f"tandem:pod:{self._origin.decode()}", *(channel(d) for d in self._watched)
        )
        self._pubsub = pubsub
        self._subscribed.set()

    async def watch(self, doc_id: DocId) -> None:
        self._watched.add(doc_id)
        if self.subscribed:  # else the coming resubscription includes it
            await self._pubsub.subscribe(channel(doc_id))
        self.publish(doc_id, ASK_FOR_PRESENCE)

    async def unwatch(self, doc_id: DocId) -> None:
        self._watched.discard(doc_id)
        if self.subscribed:
            with contextlib.suppress(Exception):  # a broken subscription is replaced anyway
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
            except Exception as exc:  # noqa: BLE001 - presence is best effort; the loop goes on
                reraise_if_cancelled(exc)
                metrics.PRESENCE_DROPPED.inc(len(batch))
                metrics.BACKGROUND_ERRORS.labels("presence_send").inc()
                log.warning("publishing presence failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)

    async def _receive(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self.subscribed:
                    await self._subscribe()
                    log.info("presence subscription restored (%d documents)", len(self._watched))
                async for message in self._pubsub.listen():
                    backoff = 0.1
                    if message["type"] == "message":
                        try:
                            self._deliver(message["channel"], message["data"])
                        except Exception:
                            metrics.BACKGROUND_ERRORS.labels("presence_deliver").inc()
                            log.exception("delivering presence failed")
            except Exception as exc:  # noqa: BLE001 - any error: resubscribe, never die
                reraise_if_cancelled(exc)
                self._subscribed.clear()
                metrics.BACKGROUND_ERRORS.labels("presence_receive").inc()
                kind = type(exc).__name__
                if kind not in self._logged:  # once per kind: a flapping Redis is one story
                    self._logged.add(kind)
                    log.warning("presence subscription failed (%s: %s); resubscribing", kind, exc)
                old, self._pubsub = self._pubsub, None
                with contextlib.suppress(Exception):
                    await old.aclose()
                await asyncio.sleep(backoff)  # a backoff before reconnecting: nothing to wait on
                backoff = min(backoff * 2, self._backoff_max_s)

    def _deliver(self, raw_channel: bytes, data: bytes) -> None:
        origin, sep, payload = data.partition(_SEP)
        if not sep or origin == self._origin or self._listener is None:
            return  # our own echo, or not ours to read
        name = raw_channel.decode()
        if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
            doc_id = DocId(name[len(_PREFIX) : -len(_SUFFIX)])
            self._listener(doc_id, Origin(origin.decode(errors="replace")), payload)
