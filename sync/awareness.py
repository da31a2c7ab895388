"""Who is present in a room: the awareness states its peers announced, and who owns which.

Nothing in the awareness protocol ties a client id to a connection, so the room does:

- A connection owns at most one client id with a state (the stock client has one per Y.Doc,
  and one Y.Doc per provider). Its first state claims an id nobody owns; it may move to
  another id only once its own state was removed (``setLocalState(null)``). An id it removed
  stays reserved to it while it is connected, so a tab coming back (``pageshow``) gets its id
  back and nobody else can take it meanwhile.
- An id owned by another live connection, here or on another pod, cannot be claimed; its
  updates (a rewritten cursor, a removal) are dropped: not applied, not relayed, counted.
  One exception: a connection of the same account takes its id over, which is what a client
  reconnecting before the server noticed its old connection died looks like.
- Stock clients send every state they receive back to the server (y-websocket relays each
  awareness change). An update no newer than what the room knows (y-protocols' clock rule) is
  such an echo and is ignored silently. Updates about other ids that are news are not echoes:
  each such message costs a strike; a connection out of strikes is closed (1008). Honest
  clients send those rarely (y-protocols times out silent remote states, at most once per
  id per 30 s), while claims of its own id blocked by an older connection cost nothing.
- With an account, the server writes the ``user`` field of every state (name and colour from
  the account, as the web app shows them); a state that is not a JSON object is dropped.
- States relayed from another pod belong to that pod until it removes them, or until they
  go unrenewed for the remote timeout (the pod may have died without saying so).
- A reconnecting stock client sends its state at the clock it had, which its old
  connection's removal already passed: it is told of that removal and re-announces. One
  that reconnected before its old connection was found dead waits for it (``claimed``); the
  old one's removal then goes out past the clock it reached, for the same effect.
- What the room relays, hands joiners and answers query-awareness with is only what it
  accepted: a whole update as received when nothing was dropped or rewritten, else the
  accepted entries encoded again. A sender whose update was dropped entirely gets an empty
  one, since its silence watchdog (30 s) would otherwise miss its own echo.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import strict_json
from .limits import AwarenessLimits
from .protocol import MAX_SAFE_INTEGER, AwarenessEntry, encode_awareness


@dataclass(frozen=True, slots=True)
class RemoteOwner:
    """Owner of entries relayed from another pod: they expire unless renewed, since the pod
    that owns the connection is the one that announces its departure, and it may die first."""

    pod: str


Owner = int | RemoteOwner
"""A local connection (its peer id) or another pod."""


class Member(Protocol):
    """What the room knows of a connection that sends awareness (a ``Peer``)."""

    @property
    def id(self) -> int: ...

    @property
    def owner(self) -> object:
        """The account; ``None`` with open access. Compared, never read."""
        ...

    @property
    def user(self) -> Mapping[str, Any] | None:
        """The ``user`` field the server writes into this connection's states, if any."""
        ...


class DropReason:
    NOT_OWNED = "not_owned"
    """An update or removal for an id another connection or pod owns."""
    CLAIMED = "claimed"
    """The connection's own id, still owned by an older connection (not a strike)."""
    ID_LIMIT = "id_limit"
    """A second id while the connection's first still has a state."""
    NOT_OBJECT = "not_object"
    """A state that cannot carry the account's ``user`` field."""
    RELAY_NOT_OWNED = "relay_not_owned"
    """Another pod's update for an id owned here or by a third pod."""


@dataclass(slots=True)
class Applied:
    entries: list[AwarenessEntry] = field(default_factory=list)
    """What to relay: the accepted entries, as the room now has them."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Entries dropped, by ``DropReason``."""
    reply: list[AwarenessEntry] = field(default_factory=list)
    """For the sender only: removals newer than the states it sent (a reconnecting client
    sends its state at the clock it had; told it was removed, it re-announces at once)."""
    close: bool = False
    """The connection ran out of strikes."""

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


@dataclass(slots=True)
class _Connection:
    account: object
    strikes: float
    at: float
    slot: int | None = None
    """The connection's client id: owned by it, or wanted while an older connection has it."""


class RoomAwareness:
    """Tracks the live awareness entries of a room so that joiners and query-awareness get
    the current presence and a departing connection's entries can be removed for everyone."""

    def __init__(self, limits: AwarenessLimits | None = None) -> None:
        self._limits = limits or AwarenessLimits()
        self._entries: dict[int, AwarenessEntry] = {}
        """Present states, as relayed (with the account's ``user``)."""
        self._owner: dict[int, Owner] = {}
        """Claimed ids: with a state, or removed by a connection that is still here."""
        self._removed: dict[int, tuple[int, float]] = {}
        """Clock and time of recent removals, oldest first: their echoes are old news."""
        self._renewed: dict[int, float] = {}
        """When each remote entry was last renewed."""
        self._connections: dict[int, _Connection] = {}
        self._waiting: dict[int, int] = {}
        """The highest clock a connection sent for an id while another owned it (``claimed``)."""

    @property
    def limits(self) -> AwarenessLimits:
        return self._limits

    # -- from this pod's connections -----------------------------------------------------------

    def apply_local(self, member: Member, entries: list[AwarenessEntry]) -> Applied:
        now = time.monotonic()
        conn = self._connections.get(member.id)
        if conn is None:
            conn = _Connection(member.owner, float(self._limits.strikes), now)
            self._connections[member.id] = conn
        applied = Applied()
        struck = False
        for entry in entries:
            cid = entry.client_id
            if not self._is_news(entry):
                removal = self._removed.get(cid)
                if removal is not None and not entry.removed and cid not in self._owner:
                    applied.reply.append(AwarenessEntry(cid, removal[0], "null"))
                continue
            owner = self._owner_of(cid, now)
            if owner != member.id:
                reason = self._refusal(member, conn, entry, owner)
                if reason is not None:
                    applied.drop(reason)
                    struck = struck or reason != DropReason.CLAIMED
                    continue
            if entry.removed:
                self._remove(cid, entry.clock, now)
                applied.entries.append(entry)
                continue
            stamped = _stamp(entry, member.user)
            if stamped is None:
                applied.drop(DropReason.NOT_OBJECT)
                continue
            self._claim(member.id, conn, cid, owner)
            self._entries[cid] = stamped
            self._removed.pop(cid, None)
            applied.entries.append(stamped)
        if struck:
            applied.close = self._strike(conn, now)
        return applied

    def _refusal(
        self, member: Member, conn: _Connection, entry: AwarenessEntry, owner: Owner | None
    ) -> str | None:
        """Why ``member`` may not apply ``entry`` for an id it does not own; None if it may."""
        cid = entry.client_id
        if entry.removed:
            return DropReason.NOT_OWNED  # news, so the id has a state: someone else's
        if not self._may_take_id(member.id, conn, cid):
            return DropReason.ID_LIMIT
        if owner is None:
            return None
        other = self._connections.get(owner) if isinstance(owner, int) else None
        if other is not None and conn.account is not None and other.account == conn.account:
            return None  # the same account's client, reconnected: its id moves along
        if conn.slot is None or conn.slot == cid:
            conn.slot = cid
            self._waiting[cid] = max(entry.clock, self._waiting.get(cid, 0))
            return DropReason.CLAIMED
        return DropReason.NOT_OWNED

    def _may_take_id(self, peer_id: int, conn: _Connection, cid: int) -> bool:
        slot = conn.slot
        return (
            slot is None
            or slot == cid
            or self._owner.get(slot) != peer_id  # only wanted, never had
            or slot not in self._entries  # removed by the connection itself
        )

    def _claim(self, peer_id: int, conn: _Connection, cid: int, owner: Owner | None) -> None:
        if owner == peer_id:
            return
        if conn.slot is not None and conn.slot != cid and self._owner.get(conn.slot) == peer_id:
            del self._owner[conn.slot]  # its old id, removed already: free for anyone now
        if isinstance(owner, int) and (previous := self._connections.get(owner)) is not None:
            previous.slot = None
        self._owner[cid] = peer_id
        self._waiting.pop(cid, None)
        conn.slot = cid

    def _strike(self, conn: _Connection, now: float) -> bool:
        limits = self._limits
        conn.strikes = min(
            float(limits.strikes), conn.strikes + (now - conn.at) / limits.strike_refill_s
        )
        conn.at = now
        conn.strikes -= 1
        return conn.strikes < 0

    def remove_owner(self, owner: int) -> bytes | None:
        """Forget connection ``owner``; returns the removal of its state to broadcast."""
        conn = self._connections.pop(owner, None)
        if conn is None or conn.slot is None:
            return None
        cid = conn.slot
        if self._owner.get(cid) != owner:
            self._waiting.pop(cid, None)  # it waited for the id; others may wait longer
            return None
        del self._owner[cid]
        entry = self._entries.get(cid)
        if entry is None:
            return None  # it removed its state itself
        # A removal at the state's own clock still removes it (y-protocols), at the limit.
        clock = self._removal_clock(cid, min(entry.clock + 1, MAX_SAFE_INTEGER))
        self._remove(cid, clock, time.monotonic())
        return encode_awareness([AwarenessEntry(cid, clock, "null")])

    def _removal_clock(self, cid: int, clock: int) -> int:
        """``clock``, or past what a connection waiting for the id sent: told of a removal
        newer than its own state, the stock client sends its state again at once. Without
        it, a client that reconnected before its old connection was found dead and moved
        its cursor meanwhile would show up only at its next renewal (15 s)."""
        waited = self._waiting.pop(cid, None)
        if (
            waited is None
            or waited < clock
            or waited - clock > self._limits.waiting_clock_lead
            or waited >= MAX_SAFE_INTEGER
        ):
            return clock
        return waited + 1

    # -- from other pods -----------------------------------------------------------------------

    def apply_remote(self, pod: str, entries: list[AwarenessEntry]) -> Applied:
        """Entries another pod relayed (it checked its own connections' ownership)."""
        now = time.monotonic()
        remote = RemoteOwner(pod)
        applied = Applied()
        for entry in entries:
            if not self._is_news(entry):
                continue
            cid = entry.client_id
            owner = self._owner_of(cid, now)
            if owner is not None and owner != remote:
                applied.drop(DropReason.RELAY_NOT_OWNED)
                continue
            if entry.removed:
                self._owner.pop(cid, None)
                if (clock := self._removal_clock(cid, entry.clock)) != entry.clock:
                    entry = AwarenessEntry(cid, clock, "null")
                self._remove(cid, clock, now)
            else:
                self._entries[cid] = entry
                self._owner[cid] = remote
                self._renewed[cid] = now
                self._removed.pop(cid, None)
            applied.entries.append(entry)
        return applied

    # -- what the room has -----------------------------------------------------------------------

    def encode_all(self) -> bytes | None:
        now = time.monotonic()
        expired = now - self._limits.remote_timeout_s
        for cid in [c for c, at in self._renewed.items() if at < expired]:
            self._expire(cid, now)
        if not self._entries:
            return None
        return encode_awareness(list(self._entries.values()))

    def encode_local(self) -> bytes | None:
        """The states of this pod's own connections: what a pod that just opened the room
        asks the others for."""
        local = [e for cid, e in self._entries.items() if isinstance(self._owner.get(cid), int)]
        return encode_awareness(local) if local else None

    def owner_of(self, client_id: int) -> Owner | None:
        return self._owner_of(client_id, time.monotonic())

    def _owner_of(self, cid: int, now: float) -> Owner | None:
        owner = self._owner.get(cid)
        if isinstance(owner, RemoteOwner) and (
            self._renewed[cid] < now - self._limits.remote_timeout_s
        ):
            self._expire(cid, now)
            return None
        return owner

    def _expire(self, cid: int, now: float) -> None:
        entry = self._entries[cid]
        del self._owner[cid]
        self._remove(cid, entry.clock, now)

    def _is_news(self, entry: AwarenessEntry) -> bool:
        """y-protocols' rule: a newer clock, or a removal at the same clock as a state."""
        current = self._entries.get(entry.client_id)
        if current is not None:
            return entry.clock > current.clock or (entry.clock == current.clock and entry.removed)
        removal = self._removed.get(entry.client_id)
        if removal is not None:
            return entry.clock > removal[0]
        return not entry.removed  # removing what nobody has is nothing

    def _remove(self, cid: int, clock: int, now: float) -> None:
        self._entries.pop(cid, None)
        self._renewed.pop(cid, None)
        removed = self._removed
        removed.pop(cid, None)
        removed[cid] = (clock, now)
        keep_after = now - self._limits.removal_memory_s
        while (oldest := next(iter(removed.items()))) and oldest[1][1] < keep_after:
            del removed[oldest[0]]


def _stamp(entry: AwarenessEntry, user: Mapping[str, Any] | None) -> AwarenessEntry | None:
    """``entry`` with the account's ``user`` field; None for a state that is no object."""
    if user is None:
        return entry
    state = strict_json.loads(entry.state)  # decode_awareness checked it parses
    if not isinstance(state, dict):
        return None
    if state.get("user") == user:
        return entry
    state["user"] = dict(user)
    return AwarenessEntry(entry.client_id, entry.clock, strict_json.dumps(state))
