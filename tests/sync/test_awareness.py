"""Awareness ownership in one room, in process: who may set or remove which client id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from sync.awareness import Applied, DropReason, RemoteOwner, RoomAwareness
from sync.limits import AwarenessLimits
from sync.protocol import AwarenessEntry, decode_awareness


@dataclass
class Conn:
    id: int
    owner: object = None
    user: dict[str, Any] | None = None


ANN = {"id": "u-ann", "name": "ann", "color": "#1f5fbf", "colorLight": "#1f5fbf33"}


def state(clock: int, cid: int, value: Any) -> AwarenessEntry:
    return AwarenessEntry(cid, clock, json.dumps(value))


def removal(clock: int, cid: int) -> AwarenessEntry:
    return AwarenessEntry(cid, clock, "null")


def present(room: RoomAwareness) -> dict[int, Any]:
    encoded = room.encode_all()
    if encoded is None:
        return {}
    return {e.client_id: json.loads(e.state) for e in decode_awareness(encoded)}


def test_first_state_claims_its_id_and_others_cannot_change_or_remove_it() -> None:
    room = RoomAwareness()
    owner, viewer = Conn(1), Conn(2)
    assert room.apply_local(owner, [state(1, 10, {"cursor": 1})]).entries
    forged = room.apply_local(viewer, [state(5, 10, {"cursor": 99})])
    assert forged.entries == [] and forged.dropped == {DropReason.CLAIMED: 1}
    gone = room.apply_local(viewer, [removal(6, 10)])
    assert gone.entries == [] and gone.dropped == {DropReason.NOT_OWNED: 1}
    assert present(room) == {10: {"cursor": 1}}
    assert room.owner_of(10) == 1


def test_echoes_of_others_states_are_ignored_without_a_strike() -> None:
    room = RoomAwareness(AwarenessLimits(strikes=0))
    a, b = Conn(1), Conn(2)
    room.apply_local(a, [state(3, 10, {"x": 1})])
    room.apply_local(b, [state(1, 20, {"y": 1})])
    echo = room.apply_local(b, [state(3, 10, {"x": 1}), state(2, 10, {"x": 0})])
    assert echo == Applied()
    # An echo of the removal a sent for itself is old news too.
    assert room.apply_local(a, [removal(4, 10)]).entries == [removal(4, 10)]
    assert room.apply_local(b, [removal(4, 10)]) == Applied()
    assert present(room) == {20: {"y": 1}}


def test_one_id_per_connection_and_a_new_one_only_after_removing_the_first() -> None:
    room = RoomAwareness()
    conn = Conn(1)
    room.apply_local(conn, [state(1, 10, {})])
    second = room.apply_local(conn, [state(1, 11, {})])
    assert second.dropped == {DropReason.ID_LIMIT: 1}
    room.apply_local(conn, [removal(2, 10)])
    assert room.apply_local(conn, [state(1, 11, {"moved": True})]).entries
    assert present(room) == {11: {"moved": True}} and room.owner_of(10) is None


def test_a_removed_id_stays_reserved_for_its_connection_and_comes_back() -> None:
    """The web app removes its state on pagehide and sets it again on pageshow."""
    room = RoomAwareness()
    tab, other = Conn(1), Conn(2)
    room.apply_local(tab, [state(1, 10, {"tab": 1})])
    room.apply_local(tab, [removal(2, 10)])
    taken = room.apply_local(other, [state(9, 10, {"tab": "stolen"})])
    assert taken.dropped == {DropReason.CLAIMED: 1}
    assert room.apply_local(tab, [state(3, 10, {"tab": 1})]).entries
    assert present(room) == {10: {"tab": 1}}


def test_close_removes_the_owners_state_with_a_newer_clock_and_frees_the_id() -> None:
    room = RoomAwareness()
    a, b = Conn(1), Conn(2)
    room.apply_local(a, [state(7, 10, {})])
    assert decode_awareness(room.remove_owner(1) or b"") == [removal(8, 10)]
    assert room.remove_owner(1) is None
    assert present(room) == {}
    # b's echo of the state it last saw is older than the removal: it is told so, and the id
    # is anyone's again with a newer clock.
    assert room.apply_local(b, [state(7, 10, {})]).reply == [removal(8, 10)]
    assert room.apply_local(b, [state(9, 10, {"b": 1})]).entries
    assert room.owner_of(10) == 2


def test_a_reconnecting_client_is_told_its_state_was_removed() -> None:
    """The stock client re-sends its state at the clock it had; others ignore that clock."""
    room = RoomAwareness()
    old, new = Conn(1), Conn(2)
    room.apply_local(old, [state(4, 10, {"me": 1})])
    room.remove_owner(1)
    applied = room.apply_local(new, [state(4, 10, {"me": 1})])
    assert applied.entries == [] and applied.reply == [removal(5, 10)]
    assert room.apply_local(new, [state(6, 10, {"me": 1})]).entries


def test_the_same_account_takes_its_id_over_from_an_older_connection() -> None:
    room = RoomAwareness()
    old, new = Conn(1, owner="acct-ann"), Conn(2, owner="acct-ann")
    stranger = Conn(3, owner="acct-bob")
    room.apply_local(old, [state(1, 10, {"v": 1})])
    assert room.apply_local(stranger, [state(2, 10, {"v": "bob"})]).dropped
    assert room.apply_local(new, [state(2, 10, {"v": 2})]).entries
    assert room.owner_of(10) == 2
    assert room.remove_owner(1) is None  # the old one's close removes nothing now
    assert present(room) == {10: {"v": 2}}


def test_open_access_connections_never_take_over() -> None:
    room = RoomAwareness()
    room.apply_local(Conn(1), [state(1, 10, {})])
    assert room.apply_local(Conn(2), [state(2, 10, {})]).dropped == {DropReason.CLAIMED: 1}


def test_the_account_user_replaces_what_the_client_claims() -> None:
    room = RoomAwareness()
    conn = Conn(1, owner="acct", user=ANN)
    claimed = {"user": {"name": "The Owner", "color": "#000"}, "cursor": {"anchor": 1}}
    (entry,) = room.apply_local(conn, [state(1, 10, claimed)]).entries
    assert json.loads(entry.state) == {"user": ANN, "cursor": {"anchor": 1}}
    (bare,) = room.apply_local(conn, [state(2, 10, {})]).entries
    assert json.loads(bare.state) == {"user": ANN}
    not_object = room.apply_local(conn, [state(3, 10, [1, 2])])
    assert not_object.dropped == {DropReason.NOT_OBJECT: 1}
    assert present(room) == {10: {"user": ANN}}


def test_without_an_account_states_are_kept_as_sent() -> None:
    room = RoomAwareness()
    entry = AwarenessEntry(10, 1, '{"user":{"name":"anyone"},  "n": 1}')
    assert room.apply_local(Conn(1), [entry]).entries == [entry]


def test_a_connection_persisting_with_others_ids_runs_out_of_strikes() -> None:
    room = RoomAwareness(AwarenessLimits(strikes=3, strike_refill_s=3600))
    room.apply_local(Conn(1), [state(1, 10, {})])
    vandal = Conn(2)
    room.apply_local(vandal, [state(1, 20, {})])
    outcomes = [room.apply_local(vandal, [removal(50 + i, 10)]).close for i in range(4)]
    assert outcomes == [False, False, False, True]
    assert present(room) == {10: {}, 20: {}}


def test_blocked_claims_of_its_own_id_cost_no_strikes() -> None:
    room = RoomAwareness(AwarenessLimits(strikes=0))
    room.apply_local(Conn(1), [state(1, 10, {})])
    waiting = Conn(2)
    assert not any(room.apply_local(waiting, [state(2 + i, 10, {})]).close for i in range(5))


def test_another_pods_ids_cannot_be_claimed_here_until_it_removes_them() -> None:
    room = RoomAwareness()
    assert room.apply_remote("pod-b", [state(1, 10, {"far": 1})]).entries
    assert room.owner_of(10) == RemoteOwner("pod-b")
    assert room.apply_local(Conn(1), [state(5, 10, {})]).dropped == {DropReason.CLAIMED: 1}
    assert room.apply_local(Conn(2), [removal(2, 10)]).dropped == {DropReason.NOT_OWNED: 1}
    # Its removal reaches this pod's clients past the clock the waiting connection sent, so
    # that client re-announces at once (y-protocols bumps its clock past a removal of itself).
    assert room.apply_remote("pod-b", [removal(2, 10)]).entries == [removal(6, 10)]
    assert room.apply_local(Conn(1), [state(7, 10, {})]).entries


def test_a_relay_cannot_change_an_id_owned_here_or_by_a_third_pod() -> None:
    room = RoomAwareness()
    room.apply_local(Conn(1), [state(1, 10, {"here": 1})])
    room.apply_remote("pod-b", [state(1, 20, {"b": 1})])
    relayed = room.apply_remote("pod-c", [state(9, 10, {}), removal(9, 20), state(1, 30, {})])
    assert relayed.dropped == {DropReason.RELAY_NOT_OWNED: 2}
    assert relayed.entries == [state(1, 30, {})]
    assert present(room) == {10: {"here": 1}, 20: {"b": 1}, 30: {}}


def test_unrenewed_remote_states_expire_and_free_their_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("sync.awareness.time.monotonic", lambda: now[0])
    room = RoomAwareness(AwarenessLimits(remote_timeout_s=30))
    room.apply_remote("pod-b", [state(1, 10, {})])
    now[0] += 31
    assert room.apply_local(Conn(1), [state(2, 10, {"mine": 1})]).entries
    assert present(room) == {10: {"mine": 1}}


def test_removals_are_remembered_for_a_while_only(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("sync.awareness.time.monotonic", lambda: now[0])
    room = RoomAwareness(AwarenessLimits(removal_memory_s=60))
    for cid in range(100):
        room.apply_local(Conn(cid), [state(1, cid, {})])
        room.remove_owner(cid)
        now[0] += 1
    assert len(room._removed) <= 61


def test_the_owners_removal_goes_past_the_clock_of_a_connection_waiting_for_its_id() -> None:
    room = RoomAwareness()
    old, new = Conn(1), Conn(2)
    room.apply_local(old, [state(3, 10, {"cursor": 1})])
    for clock in (4, 5, 9):  # reconnected before the old connection was found dead
        assert room.apply_local(new, [state(clock, 10, {"cursor": clock})]).dropped
    assert decode_awareness(room.remove_owner(1) or b"") == [removal(10, 10)]
    assert room.apply_local(new, [state(11, 10, {"cursor": 9})]).entries


def test_a_waiting_clock_far_ahead_does_not_move_the_removal() -> None:
    room = RoomAwareness(AwarenessLimits(waiting_clock_lead=100))
    room.apply_local(Conn(1), [state(3, 10, {})])
    room.apply_local(Conn(2), [state(2**53 - 1, 10, {})])
    assert decode_awareness(room.remove_owner(1) or b"") == [removal(4, 10)]


def test_a_removal_on_close_never_counts_past_what_browsers_read() -> None:
    room = RoomAwareness()
    room.apply_local(Conn(1), [state(2**53 - 1, 10, {})])
    assert decode_awareness(room.remove_owner(1) or b"") == [removal(2**53 - 1, 10)]
