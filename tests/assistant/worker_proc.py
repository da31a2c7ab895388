"""Run ``tandem assistant`` (the cluster worker) as a subprocess; stop it by PID."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Self

from tests.server_proc import free_port


class WorkerProcess:
    def __init__(self, data_dir: Path, env: dict[str, str], name: str = "worker") -> None:
        self.data_dir = data_dir
        self.env = env
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = data_dir / f"{name}.log"
        self.health_port = free_port()

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    async def start(self, timeout_s: float = 20.0) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Readiness is read from the log, so the worker logs at info whatever it was given.
        env = {
            **os.environ,
            "TANDEM_DATA_DIR": str(self.data_dir),
            "TANDEM_ASSISTANT_HEALTH_PORT": str(self.health_port),
            **self.env,
            "TANDEM_LOG_LEVEL": "info",
        }
        log = open(self.log_path, "ab")  # noqa: SIM115, ASYNC230 - handed to the child
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "assistant", env=env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while "serving with" not in self.log():
            if self.proc.returncode is not None:
                raise RuntimeError(f"tandem assistant exited:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"tandem assistant not serving:\n{self.log()}")
            await asyncio.sleep(0.05)  # the process reports readiness only in its log
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.stop(signal.SIGKILL)
        if exc_type is not None:
            print(f"--- {self.name} log ---\n{self.log()[-8000:]}")  # shown with the failure
