"""Awareness through a Room: what each peer and the other pods get when presence is forged,
rewritten by the account, invalid, or relayed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from sync.limits import AwarenessLimits, SyncLimits
from sync.peer import CloseCode, Peer
from sync.presence import PresenceListener
from sync.protocol import (
    AwarenessEntry,
    AwarenessMessage,
    ProtocolError,
    QueryAwareness,
    decode,
    decode_awareness,
    encode_awareness,
    varbytes,
    varuint,
)
from sync.room import Room
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin
from tests.sync.test_room import MemoryTransport

DOC = DocId("doc-presence")
ANN = {"id": "u-1", "name": "ann", "color": "#1f5fbf", "colorLight": "#1f5fbf33"}


class Bus:
    """A PresenceBus that records what the room publishes."""

    def __init__(self) -> None:
        self.published: list[bytes] = []

    def listen(self, listener: PresenceListener) -> None:
        pass

    def publish(self, doc_id: DocId, payload: bytes) -> None:
        self.published.append(payload)

    async def watch(self, doc_id: DocId) -> None:
        pass

    async def unwatch(self, doc_id: DocId) -> None:
        pass


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "t.db")
    yield store
    await store.aclose()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
async def room(store: SqliteStore, bus: Bus) -> Room:
    room = Room(
        DOC,
        store,
        Origin("pod-a"),
        SyncLimits(),
        presence=bus,
        awareness_limits=AwarenessLimits(strikes=2, strike_refill_s=3600),
    )
    await room.load()
    return room


def join(room: Room, *, owner: object = None, user: dict[str, Any] | None = None) -> Peer:
    peer = Peer(MemoryTransport(), owner=owner, user=user)
    room.add(peer)
    received(peer)
    return peer


def received(peer: Peer) -> list[list[AwarenessEntry]]:
    """The awareness updates queued for ``peer`` since last asked."""
    frames = [decode(f) for f in peer._frames]
    peer._frames.clear()
    return [decode_awareness(m.payload) for m in frames if isinstance(m, AwarenessMessage)]


def entry(cid: int, clock: int, state: Any) -> AwarenessEntry:
    return AwarenessEntry(cid, clock, json.dumps(state))


def say(room: Room, peer: Peer, *entries: AwarenessEntry) -> None:
    assert room.handle_now(peer, AwarenessMessage(encode_awareness(list(entries))))


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("tandem_awareness_dropped_total", {"reason": reason}) or 0.0


async def test_a_forged_update_reaches_nobody_and_the_sender_hears_it_was_dropped(
    room: Room, bus: Bus
) -> None:
    owner, viewer, watcher = join(room), join(room), join(room)
    say(room, owner, entry(10, 1, {"cursor": 1}))
    assert received(watcher) == [[entry(10, 1, {"cursor": 1})]]
    received(viewer)
    received(owner)
    before = dropped("claimed")
    say(room, viewer, entry(10, 9, {"cursor": 666}))
    assert received(watcher) == [] and received(owner) == []
    assert received(viewer) == [[]]  # an empty update: a message for its silence watchdog
    assert dropped("claimed") == before + 1
    assert len(bus.published) == 1


async def test_a_removal_of_anothers_id_is_ignored_and_the_owners_close_removes_it(
    room: Room,
) -> None:
    owner, vandal, watcher = join(room), join(room), join(room)
    say(room, owner, entry(10, 4, {"cursor": 1}))
    say(room, vandal, entry(20, 1, {}))
    received(watcher)
    say(room, vandal, AwarenessEntry(10, 5, "null"))
    assert received(watcher) == []
    room.remove(owner)
    assert received(watcher) == [[AwarenessEntry(10, 5, "null")]]


async def test_the_account_name_is_what_everyone_and_the_other_pods_see(
    room: Room, bus: Bus
) -> None:
    ann = join(room, owner="acct-1", user=ANN)
    watcher = join(room)
    say(room, ann, entry(10, 1, {"user": {"name": "The Boss", "color": "#000"}, "cursor": 2}))
    (update,) = received(watcher)
    assert [json.loads(e.state) for e in update] == [{"user": ANN, "cursor": 2}]
    assert decode_awareness(bus.published[-1]) == update
    room.handle_now(watcher, QueryAwareness())
    assert received(watcher) == [update]
    late = Peer(MemoryTransport())
    room.add(late)
    assert received(late) == [update]


@pytest.mark.parametrize("state", [b'{"a":NaN}', b"[Infinity]", b'{"x":-Infinity}', b"1e400"])
async def test_non_finite_states_are_refused_and_reach_nobody(
    room: Room, bus: Bus, state: bytes
) -> None:
    sender, watcher = join(room), join(room)
    payload = varuint(1) + varuint(10) + varuint(1) + varbytes(state)
    with pytest.raises(ProtocolError):
        room.handle_now(sender, AwarenessMessage(payload))
    assert received(watcher) == [] and bus.published == []


async def test_a_relay_from_another_pod_cannot_change_an_id_owned_here(room: Room) -> None:
    local, watcher = join(room), join(room)
    say(room, local, entry(10, 1, {"here": True}))
    received(watcher)
    forged = encode_awareness([entry(10, 7, {"here": False}), entry(30, 1, {"far": True})])
    room.apply_remote_awareness(Origin("pod-b"), forged)
    assert received(watcher) == [[entry(30, 1, {"far": True})]]
    room.apply_remote_awareness(Origin("pod-b"), encode_awareness([entry(30, 1, {"far": 1})]))
    assert received(watcher) == []  # the same clock again: an echo, not news


async def test_a_connection_persisting_with_others_ids_is_closed(room: Room) -> None:
    owner, vandal = join(room), join(room)
    say(room, owner, entry(10, 1, {}))
    say(room, vandal, entry(20, 1, {}))
    for clock in range(2, 5):
        say(room, vandal, AwarenessEntry(10, clock, "null"))
    assert not vandal.open and vandal.close_code == CloseCode.POLICY_VIOLATION
    assert owner.open


async def test_honest_echoes_are_neither_relayed_nor_answered(room: Room) -> None:
    a, b = join(room), join(room)
    say(room, a, entry(10, 1, {"a": 1}))
    say(room, b, entry(20, 1, {"b": 1}))
    received(a)
    received(b)
    say(room, b, entry(10, 1, {"a": 1}))
    assert received(a) == [] and received(b) == []
