"""Prometheus series of the edit history: heard updates against store writes show batching."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter

from sync.loop_metrics import LoopCounter

# Counted on every client update, on the event loop's thread.
UPDATES = LoopCounter("tandem_history_updates_total", "Client updates folded into edit sessions")
REGISTRY.register(UPDATES)
WRITES = Counter("tandem_history_writes_total", "Batches of edit sessions written to the store")
POINTS = Counter("tandem_history_points_total", "Restore points taken", ["reason"])
RESTORES = Counter("tandem_history_restores_total", "Restore points applied as new edits")
