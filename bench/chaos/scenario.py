"""The chaos run: honest typists on every pod for every document, the faults one after the
other while they type, then the read-back that decides what was lost."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sync.types import DocId
from tests.server_proc import TandemProcess
from tests.yjs import YjsClientError

from .cluster import Cluster, Exit, Pod, poll_until, running_cluster
from .fuzz import FuzzResult, fuzz
from .typists import Delivery, Typists

KILLED, TERMINATED, STALLED, FUZZED = 0, 1, 2, 1
"""Which pod each fault hits."""
_MARKER = re.compile(r"\[(\d+)\.\d+\]")
_RECONNECT_TIMEOUT_MS = 30_000
_CONVERGE_TIMEOUT_MS = 20_000
_GAP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Plan:
    docs: int = 4
    rate: float = 2.0
    """Markers a second, per typist; a typist per document per pod."""
    phase_s: float = 8.0
    """Typing after each fault, once the clients are back."""
    outage_s: float = 2.0
    """How long a killed pod or Valkey stays down."""
    stall_timeout_s: float = 25.0
    """The longest a pod stays stopped waiting for the others to trim past it: under the
    stock client's 30 s silence timeout, so that its clients stay and the pod has to catch
    up through its stream follower."""
    fuzz_frames: int = 10_000
    fuzz_s: float = 30.0
    """How long the fuzz lasts, and the calm phase before it that is its baseline."""


QUICK = Plan(docs=2, phase_s=3.0, outage_s=1.0, fuzz_frames=1_000, fuzz_s=5.0)


@dataclass(frozen=True)
class Writer:
    name: str
    index: int
    pod: int
    doc: DocId


@dataclass
class Stall:
    trimmed: bool = False
    """Whether the other pods compacted and trimmed past the stopped pod in time."""
    stopped_s: float = 0.0
    reloads: float = 0.0
    """Documents the stalled pod reloaded from storage on a gap (tandem_log_gaps_total)."""


@dataclass
class Outcome:
    plan: Plan
    written: int = 0
    seen: int = 0
    lost: list[str] = field(default_factory=list)
    """Markers some client other than the writer saw, absent from a final document."""
    unpublished: list[str] = field(default_factory=list)
    """Markers written, absent from a final document (seen or not)."""
    divergent: list[str] = field(default_factory=list)
    hidden: dict[str, int] = field(default_factory=dict)
    """Per document, items its Y.Text counts but does not show: hostile content the fuzz
    wrote under the text's root name (bench/chaos/hidden_content.py)."""
    crashes: list[Exit] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    fuzz: FuzzResult | None = None
    stall: Stall = field(default_factory=Stall)
    valkey_restarts: int = 0
    logged_errors: Counter[str] = field(default_factory=Counter)
    client_errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    writers: list[Writer] = field(default_factory=list)

    aborted: str | None = None
    """Why the run stopped before its end, if it did."""

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.divergent or self.crashes or self.aborted)

    def latencies(self, phase: str, *, via_pod: int | None = None) -> list[float]:
        """Write-to-seen times of markers typed in ``phase``; with ``via_pod``, only those
        whose writer or receiver is connected to that pod."""
        pods = {w.name: w.pod for w in self.writers}
        return [
            d.ms
            for d in self.deliveries
            if d.phase == phase
            and (via_pod is None or via_pod in (pods[d.sender], pods[d.receiver]))
        ]


def _writer_of(marker: str) -> int:
    match = _MARKER.fullmatch(marker)
    assert match is not None
    return int(match[1])


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


class _Run:
    def __init__(self, plan: Plan, cluster: Cluster, js: Typists, say: Callable[[str], None]):
        self.plan, self.cluster, self.js, self.say = plan, cluster, js, say
        self.docs = [DocId(f"chaos-{d}") for d in range(plan.docs)]
        self.writers = [
            Writer(f"d{d}p{p}", d * len(cluster.pods) + p, p, doc)
            for d, doc in enumerate(self.docs)
            for p in range(len(cluster.pods))
        ]
        self.outcome = Outcome(plan, writers=self.writers)
        self.fresh: Pod | None = None
        self.current = ""
        self._started = time.monotonic()

    def on(self, pod: int) -> list[Writer]:
        return [w for w in self.writers if w.pod == pod]

    async def phase(self, name: str) -> None:
        self.current = name
        self.outcome.timings[name] = round(time.monotonic() - self._started, 1)
        self.say(f"{self.outcome.timings[name]:6.1f}s  {name}")
        await self.js.phase(name)

    async def type_for(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the load runs this long: no event to wait for
        await self.revive()

    async def revive(self) -> None:
        for pod in await self.cluster.revive():
            self.say(f"        pod {pod.index} had exited by itself: {pod.crashes[-1]}")

    async def synced(self, writers: list[Writer]) -> None:
        for w in writers:
            await self.js.wait_synced(w.name, _RECONNECT_TIMEOUT_MS)

    async def start(self) -> None:
        await self.phase("warmup")
        for w in self.writers:
            await self.js.connect(w.name, self.cluster.pods[w.pod].url, w.doc, synced=False)
            await self.js.watch(w.name)
        await self.synced(self.writers)
        for w in self.writers:
            await self.js.type(w.name, w.index, self.plan.rate)
        await self.type_for(self.plan.phase_s)

    async def stop_pod(self, pod: Pod, stop: Callable[[], Awaitable[object]], phase: str) -> None:
        """Stop a pod, wait until its clients noticed, keep it down, start it again."""
        await self.phase(phase)
        writers = self.on(pod.index)
        closes = {w.name: len((await self.js.status(w.name))["closes"]) for w in writers}
        await stop()
        for w in writers:
            await self.js.wait_closed(w.name, closes[w.name] + 1, _RECONNECT_TIMEOUT_MS)
        await asyncio.sleep(self.plan.outage_s)  # the outage itself
        await pod.start()
        await self.synced(writers)
        await self.type_for(self.plan.phase_s)

    async def restart_valkey(self) -> None:
        await self.phase("valkey SIGKILL, restart from AOF")
        await self.cluster.restart_valkey(self.plan.outage_s)
        await self.synced(self.writers)
        await self.type_for(self.plan.phase_s)

    async def stall(self) -> None:
        """SIGSTOP a pod until the others have compacted and trimmed entries it never read,
        then SIGCONT: it must notice the gap and reload from the snapshot and the stream."""
        await self.phase("stall (SIGSTOP) during compaction and trims")
        pod, stall = self.cluster.pods[STALLED], self.outcome.stall
        gaps_before = await pod.metric("tandem_log_gaps_total")
        marks = await self.cluster.last_ids(self.docs)
        await self.cluster.between_compactions(self.docs, _GAP_TIMEOUT_S)
        stopped = time.monotonic()
        pod.pause()
        try:
            stall.trimmed = await self.cluster.trimmed_past(marks, self.plan.stall_timeout_s)
            # And stopped for an outage's length at least, so that its clients' edits queue up.
            await asyncio.sleep(max(0.0, stopped + self.plan.outage_s - time.monotonic()))
        finally:
            pod.resume()
            stall.stopped_s = round(time.monotonic() - stopped, 1)
        self.say(f"        stopped {stall.stopped_s} s; trimmed past it: {stall.trimmed}")

        async def reloaded() -> bool:
            stall.reloads = await pod.metric("tandem_log_gaps_total") - gaps_before
            return stall.reloads >= len(self.docs)

        await poll_until(reloaded, _GAP_TIMEOUT_S)
        self.say(f"        documents reloaded on a gap: {stall.reloads:.0f}")
        await self.synced(self.on(STALLED))
        await self.type_for(self.plan.phase_s)

    async def fuzz(self) -> None:
        await self.phase("calm")
        await self.type_for(self.plan.fuzz_s)
        await self.phase("fuzz")
        urls = [f"{self.cluster.pods[FUZZED].url}/{doc}" for doc in self.docs]
        self.outcome.fuzz = await fuzz(urls, frames=self.plan.fuzz_frames, seconds=self.plan.fuzz_s)
        await self.revive()

    async def read_back(self, work: Path) -> None:
        """Every client's text, fresh clients' on every pod, and then, with every pod stopped,
        a fresh client's on a fresh pod: what storage kept."""
        await self.phase("read-back")
        self.outcome.written = await self.js.stop_typing()
        await self.synced(self.writers)
        # A new tab on every pod.
        readers = [Writer(f"r{w.name}", -1, w.pod, w.doc) for w in self.writers]
        for r in readers:
            await self.js.connect(r.name, self.cluster.pods[r.pod].url, r.doc, synced=False)
        await self.synced(readers)
        texts: dict[DocId, dict[str, str]] = {doc: {} for doc in self.docs}
        for doc in self.docs:
            names = [m.name for m in [*self.writers, *readers] if m.doc == doc]
            try:
                await self.js.converge(*names, timeout_ms=_CONVERGE_TIMEOUT_MS)
            except YjsClientError as exc:
                self.say(f"        {doc} did not converge: {str(exc)[:300]}")
            for name in names:
                texts[doc][name] = await self.js.text(name)
            hidden = max([await self.js.hidden(name) for name in names])
            if hidden:
                self.outcome.hidden[doc] = hidden
        report = await self.js.report()
        for name in [m.name for m in [*self.writers, *readers]]:
            await self.js.destroy(name)
        await self.phase("graceful stop, a fresh pod")
        for pod in self.cluster.pods:
            await pod.terminate()
        fresh = self.fresh = Pod(
            len(self.cluster.pods), TandemProcess(work / "fresh", env=self.cluster.env)
        )
        await fresh.start()
        try:
            for doc in self.docs:
                await self.js.connect(f"fresh-{doc}", fresh.url, doc)
                texts[doc]["fresh pod"] = await self.js.text(f"fresh-{doc}")
                await self.js.destroy(f"fresh-{doc}")
        finally:
            await fresh.terminate()
        self.judge(texts, report.written, report.deliveries)

    def judge(
        self, texts: dict[DocId, dict[str, str]], written: list[str], deliveries: list[Delivery]
    ) -> None:
        doc_of = {w.index: w.doc for w in self.writers}
        outcome = self.outcome
        outcome.deliveries = deliveries
        seen = {d.marker for d in deliveries}
        outcome.seen = len(seen)
        for doc, by_client in texts.items():
            if len(set(by_client.values())) > 1:
                outcome.divergent.append(doc)
            finals = [{m[0] for m in _MARKER.finditer(t)} for t in by_client.values()]
            for marker in written:
                if doc_of[_writer_of(marker)] != doc:
                    continue
                if any(marker not in final for final in finals):
                    outcome.unpublished.append(marker)
                    if marker in seen:
                        outcome.lost.append(marker)


async def run(plan: Plan, work: Path, say: Callable[[str], None]) -> Outcome:
    async with running_cluster(work) as cluster, Typists() as js:
        chaos = _Run(plan, cluster, js, say)
        outcome = chaos.outcome
        killed, terminated = cluster.pods[KILLED], cluster.pods[TERMINATED]
        try:
            await chaos.start()
            await chaos.stop_pod(killed, killed.kill, "SIGKILL a pod")
            await chaos.stop_pod(terminated, terminated.terminate, "SIGTERM a pod")
            await chaos.restart_valkey()
            await chaos.stall()
            await chaos.fuzz()
            await chaos.read_back(work)
        except YjsClientError as exc:  # clients that did not come back, say
            outcome.aborted = f"{chaos.current}: {exc}"
        finally:
            pods = [*cluster.pods, *([chaos.fresh] if chaos.fresh else [])]
            outcome.crashes = [e for p in pods for e in p.crashes]
            outcome.logged_errors = cluster.log_errors([p.process for p in pods])
            outcome.valkey_restarts = cluster.valkey_restarts
            outcome.client_errors, js.errors = js.errors, []  # reported, not raised
    return outcome
