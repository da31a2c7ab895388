"""The system under test: Valkey (AOF, appendfsync always), SeaweedFS's S3 and three
``tandem serve`` pods, on loopback, each process watched and stopped by its PID."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis.asyncio import Redis

from sync.stream_log import StreamLog, stream_key
from sync.types import DocId, LogId
from tests.cluster.pods import cluster_env
from tests.cluster.services import S3Server, Valkey
from tests.server_proc import TandemProcess

# Small, so that compaction and trims happen every few seconds of typing.
CHAOS_ENV = {
    "TANDEM_OPEN_ACCESS": "true",  # as the cluster tests run: the suite tests sync, not access
    "TANDEM_COMPACT_ENTRIES": "40",
    "TANDEM_COMPACT_AGE_S": "2",
    "TANDEM_SHUTDOWN_GRACE_S": "5",
}
_TERM_TIMEOUT_S = 15.0
_POLL_S = 0.1
_NUMBERS = re.compile(r"\d+")


async def poll_until(check: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
    """Poll a condition of another process (a stream's trims, a pod's counter) that sends
    no event we could wait on; False once ``timeout_s`` passed without it."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return True


@dataclass
class Exit:
    pod: int
    code: int | None
    at: float
    expected: bool
    why: str


@dataclass
class Pod:
    """One pod; every exit it makes is recorded, and an exit nobody asked for is a crash."""

    index: int
    process: TandemProcess
    exits: list[Exit] = field(default_factory=list)
    starts: int = 0
    paused: bool = False
    _expecting: str | None = None
    _watch: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return self.process.ws_url

    @property
    def pid(self) -> int | None:
        proc = self.process.proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        self._expecting = None
        await self.process.start()
        self.starts += 1
        self._watch = asyncio.create_task(self._watch_exit())

    async def _watch_exit(self) -> None:
        proc = self.process.proc
        assert proc is not None
        code = await proc.wait()
        expected = self._expecting is not None
        self.exits.append(Exit(self.index, code, time.time(), expected, self._expecting or ""))

    async def kill(self) -> None:
        self._expecting = "SIGKILL"
        await self.process.kill()
        await self._joined()

    async def terminate(self) -> Exit:
        """SIGTERM; a graceful stop exits by itself within the shutdown grace, with 0 or the
        signal; a kill at the deadline (-9) or any other code counts as a crash."""
        self._expecting = "SIGTERM"
        code = await self.process.terminate(_TERM_TIMEOUT_S)
        await self._joined()
        last = self.exits[-1]
        if code not in (0, -signal.SIGTERM):  # uvicorn re-raises SIGTERM once it is done
            last.expected, last.why = False, f"SIGTERM, exit code {code}"
        return last

    def pause(self) -> None:
        """SIGSTOP: the whole process, its stream follower too, stops where it is."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.pid is not None and self.paused:
            os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    async def metric(self, name: str) -> float:
        """The sum of a counter or gauge over its labels, from the pod's /metrics."""
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{self.process.http_url}/metrics")
        response.raise_for_status()
        return sum(
            float(line.rpartition(" ")[2])
            for line in response.text.splitlines()
            if line.startswith((f"{name} ", f"{name}{{"))
        )

    async def _joined(self) -> None:
        if self._watch is not None:
            await self._watch
            self._watch = None

    @property
    def crashes(self) -> list[Exit]:
        return [e for e in self.exits if not e.expected]

    async def close(self) -> None:
        self.resume()  # a stopped process still dies of SIGKILL, but say so plainly
        if self.pid is not None:
            await self.kill()


@dataclass
class Cluster:
    valkey: Valkey
    s3: S3Server
    pods: list[Pod]
    env: dict[str, str]
    """What a pod's environment holds, for one started later."""
    valkey_restarts: int = 0

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.pods]

    async def restart_valkey(self, down_s: float) -> None:
        """SIGKILL, then a new server on the same port and directory: it replays the AOF."""
        await asyncio.to_thread(self.valkey.stop, True)
        await asyncio.sleep(down_s)  # the outage itself, not a synchronisation
        await asyncio.to_thread(self.valkey.start)
        self.valkey_restarts += 1

    async def revive(self) -> list[Pod]:
        """Start again every pod that exited without being asked to (a crash, recorded in its
        exits), so that the run goes on; returns them."""
        dead = [p for p in self.pods if p.pid is None and p.crashes]
        for pod in dead:
            await pod._joined()
            await pod.start()
        return dead

    async def last_ids(self, docs: list[DocId]) -> dict[DocId, LogId]:
        """The newest id each document's stream has given out."""
        async with self._redis() as redis:
            infos = {doc: await redis.xinfo_stream(stream_key(doc)) for doc in docs}
        return {doc: LogId(info["last-generated-id"].decode()) for doc, info in infos.items()}

    async def trimmed_past(self, marks: dict[DocId, LogId], timeout_s: float) -> bool:
        """Wait until a trim removed, from every document's stream, entries newer than its
        mark: a reader whose position was at the mark has lost entries to a compaction."""

        async def all_trimmed() -> bool:
            async with self._redis() as redis:
                log = StreamLog(redis)
                return all([(await log.read(d)).lost_after(mark) for d, mark in marks.items()])

        return await poll_until(all_trimmed, timeout_s)

    async def between_compactions(self, docs: list[DocId], timeout_s: float) -> bool:
        """Wait until no pod holds a document's compaction lease (the key is
        sync/redis_s3_store.py's): a pod stopped while holding one would hold the others'
        compactions back until it expires (30 s), and that is another test."""

        async def none_held() -> bool:
            async with self._redis() as redis:
                return not await redis.exists(*(f"tandem:doc:{d}:compacting" for d in docs))

        return await poll_until(none_held, timeout_s)

    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[Redis]:
        """A client of its own per look: Valkey restarts under the pods' clients."""
        redis = Redis.from_url(self.valkey.url, socket_timeout=5)
        try:
            yield redis
        finally:
            await redis.aclose()

    @staticmethod
    def log_errors(processes: list[TandemProcess]) -> Counter[str]:
        """Errors the pods logged, counted by logger, message (numbers as N) and exception:
        worth reading, not by themselves a failure (a pod logs some when Valkey goes away).
        Lines that are not JSON records (a dying interpreter's traceback) count as they are."""
        found: Counter[str] = Counter()
        for process in processes:
            for line in process.log().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    if line.startswith(("Traceback", "Fatal", "Segmentation")):
                        found[line[:200]] += 1
                    continue
                if record.get("level") in ("error", "critical"):
                    exc = str(record.get("exc", "")).strip().rpartition("\n")[2]
                    what = f"{record.get('logger')}: {record.get('msg')}"
                    found[_NUMBERS.sub("N", f"{what} ({exc})" if exc else what)[:240]] += 1
        return found


@contextlib.asynccontextmanager
async def running_cluster(work: Path, pods: int = 3) -> AsyncIterator[Cluster]:
    valkey = Valkey(work / "valkey", appendonly=True)
    s3 = S3Server(work / "s3")
    members: list[Pod] = []
    try:
        await asyncio.to_thread(valkey.start)
        await asyncio.to_thread(s3.start)
        env = cluster_env(valkey, s3, **CHAOS_ENV)
        for i in range(pods):
            process = TandemProcess(work / f"pod-{i}", env={**env, "TANDEM_POD_ID": f"chaos-{i}"})
            members.append(Pod(i, process))
        await asyncio.gather(*(p.start() for p in members))
        yield Cluster(valkey, s3, members, env)
    finally:
        for p in members:
            with contextlib.suppress(Exception):
                await p.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(s3.stop)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(valkey.stop, True)
