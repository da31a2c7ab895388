"""A MongoDB wire-protocol server for tests: ``nx-27017`` (from the test extra) on a free
loopback port, in memory, one isolated database per name; stopped by PID."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

INSTALL_HINT = "install the test servers with `bash scripts/install.sh` (nx-27017)"
_names = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary() -> str:
    beside = Path(sys.executable).with_name("nx-27017")
    found = str(beside) if beside.exists() else shutil.which("nx-27017")
    if found is None:
        raise RuntimeError(f"nx-27017 is missing: {INSTALL_HINT}")
    return found


class MongoServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def url(self, database: str | None = None) -> str:
        """A URL naming a fresh database (or the given one): tests do not see each other."""
        return f"{self.base_url}/{database or f'test{next(_names)}'}"

    def start(self) -> MongoServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "nx-27017.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [
                _binary(),
                "--data-dir",
                "memory",
                "-p",
                str(self.port),
                "--log-file",
                str(self.workdir / "server.log"),
                "--pid-file",
                str(self.workdir / "server.pid"),
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nx-27017 exited: {self.log()}")
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)  # the server is starting: no event to wait on before it listens
        raise TimeoutError(f"nx-27017 did not listen within 20s: {self.log()}")

    def log(self) -> str:
        path = self.workdir / "nx-27017.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running_mongo(workdir: Path) -> Iterator[MongoServer]:
    server = MongoServer(workdir).start()
    try:
        yield server
    finally:
        server.stop()
