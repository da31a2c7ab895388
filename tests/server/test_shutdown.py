"""SIGTERM: peers are told to go elsewhere, nothing acknowledged is lost, the process exits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.pyclient import PyClient
from tests.server_proc import TandemProcess


async def test_sigterm_closes_peers_with_1012_and_exits_cleanly(tmp_path: Path) -> None:
    server = await TandemProcess(tmp_path, env={"TANDEM_SHUTDOWN_GRACE_S": "5"}).start()
    url = f"{server.ws_url}/draining"
    a, b = PyClient(url), PyClient(url)
    async with a, b:
        await a.insert(0, "last words")
        await b.wait_text("last words")
        started = asyncio.get_running_loop().time()
        returncode = await server.terminate(timeout_s=10)
        elapsed = asyncio.get_running_loop().time() - started
        codes = {(await a.wait_closed())[0], (await b.wait_closed())[0]}
    # uvicorn re-raises the signal after a graceful shutdown, so the exit status says SIGTERM.
    assert returncode in (0, -15)
    assert "Application shutdown complete" in server.log()
    assert elapsed < 5
    assert codes == {1012}
    async with TandemProcess(tmp_path, port=server.port) as again:
        async with PyClient(url) as fresh:
            await fresh.wait_text("last words")
        assert again.proc is not None
