"""Framed garbage updates of 20 KB and 200 KB, state vectors claiming billions of entries and
a nesting bomb, sent to a real server: each sender is closed with 1007, the server's memory
stays where it was, it stays up, the other clients keep syncing and the document is as it
was. Unchecked, these bodies cost yrs hundreds of MiB, and the bomb killed the process."""

from __future__ import annotations

from pathlib import Path

import httpx

from sync.protocol import SyncStep1, SyncUpdate, encode
from sync.update_format import MalformedUpdateError, check_update
from tests.pyclient import PyClient
from tests.server_proc import TandemProcess
from tests.sync.garbage_updates import garbage, nesting_bomb, state_vector_bombs


def _refused(body: bytes) -> bool:
    try:
        check_update(body)
    except MalformedUpdateError:
        return True
    return False


def _peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


async def test_garbage_updates_close_their_senders_and_nothing_else(tmp_path: Path) -> None:
    bodies = [body for size in (20_000, 200_000) for body in garbage(size, 8) if _refused(body)]
    assert len(bodies) >= 12  # garbled real updates that still read well are left out
    frames = [encode(SyncUpdate(body)) for body in bodies]
    frames += [encode(SyncStep1(state)) for state in state_vector_bombs(4)]
    frames.append(encode(SyncUpdate(nesting_bomb(200_000))))
    async with TandemProcess(tmp_path / "data") as server:
        assert server.proc is not None
        url = f"{server.ws_url}/garbage"
        async with PyClient(url) as a, PyClient(url) as b:
            await a.insert(0, "before ")
            await b.wait_text("before ")
            peak_before = _peak_rss_mib(server.proc.pid)
            for frame in frames:
                async with PyClient(url) as bad:
                    await bad.send(frame)
                    code, reason = await bad.wait_closed()
                assert code == 1007, reason
                assert "malformed" in reason
            assert _peak_rss_mib(server.proc.pid) - peak_before < 50
            await b.insert(7, "after")
            await a.wait_text("before after")
        async with PyClient(url) as fresh:
            await fresh.wait_text("before after")
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{server.http_url}/healthz")).status_code == 200
