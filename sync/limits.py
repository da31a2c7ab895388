"""Named limits of the sync layer; the server builds them from its settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SyncLimits:
    outbox_frames: int = 1024
    """Frames queued for one peer before it is closed as too slow (1013)."""
    send_timeout_s: float = 10.0
    """One send stuck longer than this closes the peer (1013)."""
    room_grace_s: float = 2.0
    """How long an empty room stays loaded in case someone rejoins."""
    max_doc_bytes: int = 256 * 1024 * 1024
    """A document whose encoded size would pass this refuses further updates (4413)."""
    max_awareness_bytes: int = 64 * 1024
    """Largest awareness update a peer may send (1009)."""
    compact_entries: int = 1000
    compact_bytes: int = 4 * 1024 * 1024
    compact_age_s: float = 300.0
    """Compaction triggers: uncompacted entries, their bytes, or the oldest one's age."""
    compactions_at_once: int = 2
    """Compactions a process runs at the same time. When a crowd leaves, every room unloads
    within the same grace period; fifty compactions at once each took a turn of the loop in
    every round, and joiners waited hundreds of milliseconds behind them."""


@dataclass(frozen=True, slots=True)
class AwarenessLimits:
    """How a room holds presence (awareness.py)."""

    remote_timeout_s: float = 30.0
    """A state relayed from another pod and not renewed for this long is forgotten (clients
    renew every 15 s; y-protocols times states out after 30 s)."""
    removal_memory_s: float = 60.0
    """How long a removal's clock is kept, so that the echoes of the removed state that
    clients send back are known as old news."""
    strikes: int = 30
    strike_refill_s: float = 2.0
    """Awareness messages about others' client ids a connection may send at once, and the
    seconds in which one more is allowed; past them it is closed (1008). A stock client sends
    one when it times a silent state out (every 3 s at most), a hand-made one at will."""
    batch_peers: int = 64
    batch_s: float = 0.02
    """A room with at least ``batch_peers`` peers relays awareness in one message per
    ``batch_s`` (each client's latest state), not one per update: every update goes to
    every peer, so a crowd of N joining at once cost N x N writes (1,000 clients joining one
    document: a million frames, most of the 4.2 s until all were synced)."""
    waiting_clock_lead: int = 10_000
    """How far past the owner's clock a connection waiting for the same client id may have
    counted and still have the owner's removal sent past its clock (so it re-announces)."""
