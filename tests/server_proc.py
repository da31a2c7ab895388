"""Run ``tandem serve`` as a real subprocess on a free loopback port, stop it by PID."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Self

import httpx

_READY_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TandemProcess:
    """One server process. ``start`` waits until /healthz answers; ``kill`` is SIGKILL."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        port: int = 0,
        command: tuple[str, ...] = ("serve",),
    ) -> None:
        self.command = command
        """``("serve",)``, or another long-running ``tandem`` command: ``("model", "serve")``."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/sync"

    async def start(self) -> TandemProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "TANDEM_HOST": "127.0.0.1",
            "TANDEM_PORT": str(self.port),
            "TANDEM_MODEL_PORT": str(self.port),  # where `tandem model serve` listens
            "TANDEM_DATA_DIR": str(self.data_dir),
            # Tests sign up many accounts from one address; the budget has a test of its own.
            "TANDEM_SIGNUPS_PER_MIN": "100000",
            **self.extra_env,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115, ASYNC230 - handed to the child process
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", *self.command, env=env, stdout=log, stderr=log
        )
        log.close()
        await self._wait_ready()
        return self

    async def _wait_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + _READY_TIMEOUT_S
        async with httpx.AsyncClient() as client:
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise RuntimeError(f"tandem {self.command[0]} exited early:\n{self.log()}")
                try:
                    response = await client.get(f"{self.http_url}/healthz", timeout=1.0)
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"tandem serve not ready:\n{self.log()}")
                # Polling a port that is not yet bound: there is no event to wait on.
                await asyncio.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def kill(self) -> None:
        await self._stop(signal.SIGKILL)

    async def terminate(self, timeout_s: float = 30.0) -> int:
        return await self._stop(signal.SIGTERM, timeout_s)

    async def _stop(self, sig: signal.Signals, timeout_s: float = 10.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()
