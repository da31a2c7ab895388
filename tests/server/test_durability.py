"""Nothing any client saw is lost when the server is killed with SIGKILL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.pyclient import PyClient
from tests.server_proc import TandemProcess


async def _metric(server: TandemProcess, pattern: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{server.http_url}/metrics")).text
    match = re.search(pattern + r" ([0-9.e+]+)", text)
    return float(match.group(1)) if match else 0.0


async def _wait_metric(server: TandemProcess, pattern: str, at_least: float) -> None:
    async def until() -> None:
        while await _metric(server, pattern) < at_least:
            await asyncio.sleep(0.05)  # polling a scrape endpoint: there is no event to await

    await asyncio.wait_for(until(), 10.0)


async def test_kill_9_loses_nothing_a_peer_saw(tmp_path: Path) -> None:
    server = await TandemProcess(tmp_path).start()
    url = f"{server.ws_url}/durable"
    expected = ""
    try:
        async with PyClient(url) as writer, PyClient(url) as watcher:
            for i in range(50):
                word = f"w{i} "
                await writer.insert(len(str(writer.text)), word)
                expected += word
            await watcher.wait_text(expected)
            await server.kill()
    finally:
        await server.kill()
    restarted = await TandemProcess(tmp_path, port=server.port).start()
    try:
        async with PyClient(url) as fresh:
            await fresh.wait_text(expected)
    finally:
        await restarted.kill()


async def test_compacted_log_survives_kill_9_and_stays_small(tmp_path: Path) -> None:
    env = {"TANDEM_COMPACT_ENTRIES": "20"}
    server = await TandemProcess(tmp_path, env=env).start()
    url = f"{server.ws_url}/compacted"
    expected = ""
    try:
        async with PyClient(url) as writer, PyClient(url) as watcher:
            for i in range(120):
                await writer.insert(0, "x")
                expected += "x"
            await watcher.wait_text(expected)
            await _wait_metric(server, r'tandem_compactions_total\{result="ok"\}', 1)
            for _ in range(5):
                await writer.insert(0, "y")
                expected = "y" + expected
            await watcher.wait_text(expected)
            await server.kill()
    finally:
        await server.kill()

    import sqlite3

    db = sqlite3.connect(tmp_path / "tandem.db")
    (rows,) = db.execute("SELECT COUNT(*) FROM updates WHERE doc_id = 'compacted'").fetchone()
    (snapshots,) = db.execute("SELECT COUNT(*) FROM snapshots").fetchone()
    db.close()
    assert snapshots == 1
    assert rows < 120, "the log was never trimmed"

    restarted = await TandemProcess(tmp_path, env=env, port=server.port).start()
    try:
        async with PyClient(url) as fresh:
            await fresh.wait_text(expected)
    finally:
        await restarted.kill()


async def test_edits_made_offline_merge_when_the_client_returns(tmp_path: Path) -> None:
    async with TandemProcess(tmp_path) as server:
        url = f"{server.ws_url}/offline"
        async with PyClient(url) as a:
            await a.insert(0, "online.")
            roamer = PyClient(url)
            async with roamer:
                await roamer.wait_text("online.")
            # Offline: the server and the others do not see these until it reconnects.
            roamer.text.insert(len(str(roamer.text)), " offline.")
            await a.insert(0, "[a] ")
            async with roamer:  # back online: step 1 / step 2 both ways
                await roamer.wait_text("[a] online. offline.")
            async with PyClient(url) as observer:
                await observer.wait_text("[a] online. offline.")
            await a.wait_text("[a] online. offline.")


async def test_a_second_server_on_the_same_data_directory_refuses_to_start(
    tmp_path: Path,
) -> None:
    """Two writers of one log would hand out the same seqs; the second is stopped at once."""
    async with TandemProcess(tmp_path) as first:
        second = TandemProcess(tmp_path)
        try:
            with pytest.raises(RuntimeError, match="exited early"):
                await second.start()
        finally:
            await second.kill()
        assert "in use by another process" in second.log()
        url = f"{first.ws_url}/still-served"  # the first goes on as before
        async with PyClient(url) as writer, PyClient(url) as watcher:
            await writer.insert(0, "fine")
            await watcher.wait_text("fine")
