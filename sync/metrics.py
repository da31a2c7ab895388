"""Prometheus series of the sync package (``tandem_*``), on the default registry."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from .loop_metrics import ByKind, CountOf, LoopCounters, LoopHistogram

_FAST = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

CONNECTIONS = Gauge("tandem_open_connections", "Open sync websocket connections")
CONNECTIONS_TOTAL = Counter("tandem_connections_total", "Sync websocket connections accepted")
CLOSES = Counter("tandem_closes_total", "Sync connections closed, by close code", ["code"])
ROOMS = Gauge("tandem_rooms", "Documents open in this process")
ROOM_LOADS = Counter("tandem_room_loads_total", "Document loads from the store", ["result"])
ROOM_LOAD_SECONDS = Histogram("tandem_room_load_seconds", "Time to load a document", buckets=_FAST)
LOOP_LAG_SECONDS = Histogram(
    "tandem_event_loop_lag_seconds",
    "How late the event loop woke a timer due now (server/loop_lag.py)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
# Changed on every update, on the event loop's thread only (loop_metrics.py).
UPDATE_APPLY_SECONDS = LoopHistogram(
    "tandem_update_apply_seconds",
    "Time to apply one update to the in-memory document",
    buckets=_FAST,
)
LOG_APPEND_SECONDS = LoopHistogram(
    "tandem_log_append_seconds", "Time to append one update durably", buckets=_FAST
)
LOG_APPENDS = CountOf(
    "tandem_log_appends_total", "Updates appended to the durable log", LOG_APPEND_SECONDS
)
FANOUT_SECONDS = LoopHistogram(
    "tandem_fanout_seconds",
    "From receiving an update to queueing it for every peer",
    buckets=_FAST,
)
INBOUND_HANDLED = LoopCounters(
    "tandem_inbound_handled_total",
    "Client messages handled, by where: in the server's protocol callback, as they arrived "
    "(callback), or by the connection's task, behind others (task)",
    "path",
    ("callback", "task"),
)
HANDLED_AT_ONCE = INBOUND_HANDLED.labels("callback")
HANDLED_BY_TASK = INBOUND_HANDLED.labels("task")
COMPACTIONS = Counter("tandem_compactions_total", "Log compactions, by result", ["result"])
LOG_DRAINS = Histogram(
    "tandem_sqlite_drain_entries",
    "Transactions moving updates from the front log into SQLite, by entries moved",
    buckets=(1, 16, 256, 4096, 65536),
)
WAL_TRUNCATIONS = Histogram(
    "tandem_sqlite_wal_truncation_seconds",
    "Checkpoints that held drains back to empty a WAL past its size limit, by duration",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LOG_GAPS = Counter(
    "tandem_log_gaps_total",
    "Times another pod's compaction trimmed entries this pod had not read yet (reloaded)",
)
READONLY_DROPS = Counter(
    "tandem_readonly_writes_dropped_total", "Updates from read-only peers that were dropped"
)
RATE_LIMITED = Counter(
    "tandem_rate_limited_closes_total", "Connections closed for sending faster than allowed"
)
SLOW_PEERS = Counter("tandem_slow_peers_closed_total", "Peers closed because their outbox filled")
LOG_UNCOMPACTED = Gauge(
    "tandem_log_uncompacted_entries", "Log entries appended by this process not yet compacted"
)
LOG_OLDEST_AGE = Gauge(
    "tandem_log_oldest_uncompacted_age_seconds",
    "Age of the oldest update of an open document not yet compacted",
)


KINDS = ("sync_step1", "sync_step2", "sync_update", "awareness", "auth", "query_awareness")


INBOUND = ByKind("in", "received", KINDS)
OUTBOUND = ByKind("out", "queued to peers", KINDS)
for _collector in (
    INBOUND,
    OUTBOUND,
    UPDATE_APPLY_SECONDS,
    LOG_APPENDS,
    LOG_APPEND_SECONDS,
    FANOUT_SECONDS,
    INBOUND_HANDLED,
):
    REGISTRY.register(_collector)

BACKGROUND_ERRORS = Counter(
    "tandem_background_errors_total",
    "Errors a background loop survived (it backs off and goes on), by loop",
    ["loop"],
)
PRESENCE_DROPPED = Counter(
    "tandem_presence_dropped_total",
    "Awareness updates not relayed to other pods (queue full or Redis unavailable)",
)

AWARENESS_DROPPED = Counter(
    "tandem_awareness_dropped_total",
    "Awareness entries dropped (not applied, not relayed), by reason: not_owned (another "
    "connection's or pod's client id), claimed (its own id, still held by an older "
    "connection), id_limit (a second id), not_object (a state that cannot carry the "
    "account's user), relay_not_owned (another pod's update for an id owned elsewhere)",
    ["reason"],
)
