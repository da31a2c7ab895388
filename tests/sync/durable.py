"""What the embedded store holds on disk right now: what a restart after ``kill -9`` finds."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from sync.front_log import read_front_logs


def durable_seqs(db_path: Path) -> set[int]:
    """The seqs of the updates in SQLite and in its front log, drained or not."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        seqs = {seq for (seq,) in db.execute("SELECT seq FROM updates")}
    return seqs | {record.seq for record in read_front_logs(db_path)}
