"""What the embedded store holds on disk right now: what a restart after ``kill -9`` finds."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from sync.front_log import decode_records


def durable_seqs(db_path: Path) -> set[int]:
    """The seqs of the updates in SQLite and in its front log, drained or not."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        seqs = {seq for (seq,) in db.execute("SELECT seq FROM updates")}
    front = db_path.with_name(db_path.name + "-front")
    if front.exists():
        seqs |= {record.seq for record in decode_records(front.read_bytes())[0]}
    return seqs
