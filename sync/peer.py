"""One client connection as the room sees it: a bounded outbox drained by a writer task."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Mapping
from enum import Enum
from typing import Any, Protocol

from . import metrics
from .types import Frame

log = logging.getLogger(__name__)

_ids = itertools.count(1)


class Transport(Protocol):
    def send_now(self, frame: Frame) -> bool:
        """Write ``frame`` in the caller's turn if the connection takes it without waiting;
        False when it cannot (the caller queues it for ``send`` instead)."""
        ...

    async def send(self, frame: Frame) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class CloseCode:
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    DOC_TOO_LARGE = 4413


class PeerState(Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Peer:
    """Frames are written at once when the connection takes them; otherwise queued and sent
    in order by the peer's writer task. A peer whose queue fills is closed with 1013 and
    resyncs when it reconnects: never a silent drop, never a blocked room.

    The writer starts the first time a frame has to wait (or a close frame is to go): most
    peers never need one, and an idle connection's task, coroutine and future were about
    1.5 KiB of its memory. Once started it waits on a future when the queue is empty:
    thousands of idle peers make an asyncio.Queue's three deques per peer add up."""

    def __init__(
        self,
        transport: Transport,
        *,
        can_write: bool = True,
        outbox_frames: int = 1024,
        send_timeout_s: float = 10.0,
        owner: object = None,
        user: Mapping[str, Any] | None = None,
    ) -> None:
        self.id = next(_ids)
        self.owner = owner
        """Whom the server admitted this connection for; opaque to the sync layer, which
        only compares it (a reconnecting client of the same account keeps its presence)."""
        self.user = user
        """The ``user`` field of this connection's awareness states as others see them (the
        account's name and colour), whatever the client claims; None leaves states as sent."""
        self.can_write = can_write
        self.state = PeerState.OPEN
        self.close_code: int | None = None
        self._transport = transport
        self._frames: deque[Frame] = deque()
        self._limit = outbox_frames
        self._wakeup: asyncio.Future[None] | None = None
        self._send_timeout_s = send_timeout_s
        self._close_reason = ""
        self._writer: asyncio.Task[None] | None = None
        self._sending_since: float | None = None
        self._send_expired = False

    def __repr__(self) -> str:
        return f"<Peer {self.id} {self.state.value}>"

    @property
    def open(self) -> bool:
        return self.state is PeerState.OPEN

    def send(self, frame: Frame, kind: str) -> None:
        if self.put(frame):
            metrics.OUTBOUND.count(kind, len(frame))

    def put(self, frame: Frame) -> bool:
        """``send`` without counting it in ``tandem_messages_out``: a broadcast counts all its
        peers' frames at once. False when the frame goes nowhere (the peer is closed, or is
        closed now for being too slow)."""
        if self.state is not PeerState.OPEN:
            return False
        # Written at once when nothing is queued or being sent before it, so order holds;
        # otherwise queued for the writer. Most frames go the first way: the fan-out then
        # costs no task wake-up per peer.
        if not self._frames and self._sending_since is None and self._transport.send_now(frame):
            return True
        if len(self._frames) >= self._limit:
            metrics.SLOW_PEERS.inc()
            log.warning("peer %s cannot keep up; closing so it resyncs", self.id)
            self.close(CloseCode.TRY_AGAIN_LATER, "too slow, reconnect to resync")
            return False
        self._frames.append(frame)
        self._wake()
        return True

    def close(self, code: int, reason: str) -> None:
        """Ask the writer to send a close frame; frames still queued are dropped, since a
        closed peer resyncs from scratch anyway. Idempotent."""
        if self.state is not PeerState.OPEN:
            return
        self.state = PeerState.CLOSING
        self.close_code = code
        self._close_reason = reason
        self._frames.clear()
        self._wake()

    def stop(self) -> None:
        """The connection is already gone: end the writer without a close frame. Idempotent."""
        if self.state is not PeerState.OPEN:
            return
        self.state = PeerState.CLOSED
        self._frames.clear()
        self._wake()

    def start_writer(self) -> asyncio.Task[None]:
        """The writer task, started now if it has not been."""
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self.run_writer(), name=f"peer-{self.id}-writer"
            )
        return self._writer

    async def finish(self, timeout_s: float) -> None:
        """Waits for the writer, if one started, to send what it must (the close frame);
        cancels it past ``timeout_s``."""
        if self._writer is None:
            return
        try:
            await asyncio.wait_for(self._writer, timeout_s)
        except TimeoutError:
            log.warning("writer of peer %s did not finish; cancelled", self.id)

    def _wake(self) -> None:
        if self._writer is None:
            if self._frames or self.state is PeerState.CLOSING:
                self.start_writer()
            return
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def expire_stuck_send(self, now: float) -> None:
        """Close the peer if its writer has been stuck in one batch of sends (the client stopped
        reading) for longer than the send timeout. Called by the room registry's periodic
        sweep: a deadline armed per batch costs ~10 us on every send of every peer."""
        started = self._sending_since
        if started is None or now - started < self._send_timeout_s or self._send_expired:
            return
        self._send_expired = True
        if self._writer is not None:
            self._writer.cancel()

    async def run_writer(self) -> None:
        """Send queued frames until closed; returns after the close frame went out."""
        loop = asyncio.get_running_loop()
        if self._writer is None:  # run as a task of the caller's own
            self._writer = asyncio.current_task()
        try:
            while self.state is PeerState.OPEN:
                if not self._frames:
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                    continue
                self._sending_since = loop.time()
                try:
                    while self._frames and self.state is PeerState.OPEN:
                        await self._transport.send(self._frames.popleft())
                except asyncio.CancelledError:
                    if not self._send_expired:
                        raise
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    self.close(CloseCode.TRY_AGAIN_LATER, "send timed out")
                finally:
                    self._sending_since = None
        except OSError:
            # The socket died under us; the reader sees the disconnect and cleans up.
            self.state = PeerState.CLOSED
            return
        if self.state is PeerState.CLOSING and self.close_code is not None:
            metrics.CLOSES.labels(str(self.close_code)).inc()
            with contextlib.suppress(OSError):  # gone already: nothing left to tell it
                await self._transport.close(self.close_code, self._close_reason)
        self.state = PeerState.CLOSED
