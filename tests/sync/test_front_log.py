"""The front log's files, mapped into memory: what a reader and the next owner find in them."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from sync import front_log
from sync.front_log import (
    FrontLog,
    FrontLogWriteError,
    Record,
    encode_record,
    front_log_paths,
    read_front_logs,
)


def _record(seq: int, size: int = 40) -> Record:
    return Record(seq, "doc", "pod", os.urandom(size), float(seq))


def _write(log: FrontLog, record: Record) -> int:
    return log.write(*record)


@pytest.mark.parametrize("fsync", [False, True])
def test_a_reader_sees_every_record_and_stops_at_the_zeros_after_them(
    tmp_path: Path, fsync: bool
) -> None:
    db = tmp_path / "t.db"
    log = FrontLog(db, fsync=fsync)
    records = [_record(seq) for seq in range(1, 101)]
    try:
        for record in records:
            _write(log, record)
        active = front_log_paths(db)[0]
        assert active.stat().st_size > log.active_bytes  # the reserved tail, zeros
        assert read_front_logs(db) == records  # while the writer holds them
    finally:
        log.close()
    again = FrontLog(db)
    try:
        assert again.read() == records
        assert active.stat().st_size == again.active_bytes  # the zeros are cut off
        _write(again, later := _record(101))
        assert read_front_logs(db) == [*records, later]
    finally:
        again.close()


def test_records_past_the_first_reservation_follow_on_whole(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    log = FrontLog(db)
    records = [_record(seq, 300_000) for seq in range(1, 40)]  # about 12 MB: grows twice
    try:
        for record in records:
            _write(log, record)
        assert log.active_bytes == sum(len(encode_record(r)) for r in records)
    finally:
        log.close()
    assert read_front_logs(db) == records


def test_a_full_disk_fails_the_append_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "t.db"
    log = FrontLog(db)
    first = _record(1, 1000)
    try:
        _write(log, first)

        def full(fd: int, offset: int, length: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        with monkeypatch.context() as patch:
            patch.setattr(front_log, "_reserve", full)
            with pytest.raises(FrontLogWriteError, match="No space"):
                _write(log, _record(2, front_log._GROWTH))
        assert read_front_logs(db) == [first]
        _write(log, third := _record(3))  # space again
        assert read_front_logs(db) == [first, third]
    finally:
        log.close()


@pytest.mark.parametrize("torn", [True, False])
def test_what_follows_the_records_is_cut_off_and_only_a_torn_record_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, torn: bool
) -> None:
    db = tmp_path / "t.db"
    records = [_record(seq) for seq in range(1, 4)]
    whole = b"".join(encode_record(r) for r in records)
    # What a crash leaves: a record half copied (its last bytes are no zeros), then zeros.
    half = encode_record(Record(4, "doc", "pod", b"y" * 40, 4.0))[:-5] if torn else b""
    front_log_paths(db)[1].write_bytes(whole + half + bytes(5000))
    with caplog.at_level(logging.WARNING, logger="sync.front_log"):
        log = FrontLog(db)
    try:
        assert log.read() == records
        assert front_log_paths(db)[1].stat().st_size == len(whole)
        warned = f"torn tail of {len(half)} bytes after 3 records" in caplog.text
        assert warned == torn
    finally:
        log.close()
