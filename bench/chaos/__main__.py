"""``python -m bench.chaos [--quick] [--keep]``: run the chaos suite once, print what
happened and the summary, exit 1 if a marker was lost, a document diverged or a pod crashed.

Needs `npm ci --prefix tests/js` and the test servers from `bash scripts/install.sh`. Writes
bench/results/chaos-<time>.json; the pods' logs stay in the work directory with --keep, or
when the run failed."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .scenario import FUZZED, QUICK, Outcome, Plan, percentile, run

RESULTS = Path(__file__).resolve().parent.parent / "results"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def _p99(outcome: Outcome, phase: str, via_pod: int | None = None) -> float | None:
    return percentile(outcome.latencies(phase, via_pod=via_pod), 0.99)


def details(outcome: Outcome) -> None:
    print("write-to-seen by the phase a marker was typed in (deliveries, p50 / p99 / max):")
    for phase in outcome.timings:
        values = outcome.latencies(phase)
        if values:
            figures = " / ".join(_ms(percentile(values, q)) for q in (0.5, 0.99, 1.0))
            print(f"  {phase:48} {len(values):6}  {figures}")
    if outcome.fuzz is not None:
        f = outcome.fuzz
        print(
            f"fuzz: {f.sent} frames in {f.seconds:.1f} s over {f.connections} connections "
            f"({f.refused} refused): {dict(f.frames)}"
        )
        print(f"  closes by the pod: {dict(f.closes.most_common(8))}")
    s = outcome.stall
    print(
        f"stall: stopped {s.stopped_s} s, trimmed past it: {s.trimmed}, "
        f"documents reloaded on a gap: {s.reloads:.0f} of {outcome.plan.docs}"
    )
    print(f"valkey restarts: {outcome.valkey_restarts}")
    print(f"markers written but absent from a final document: {len(outcome.unpublished)}")
    print(
        f"documents holding content their Y.Text counts but does not show: {len(outcome.hidden)}"
        f" {outcome.hidden or ''} (bench/chaos/hidden_content.py)"
    )
    print(f"errors the pods logged: {sum(outcome.logged_errors.values())}")
    for line, count in outcome.logged_errors.most_common(8):
        print(f"  {count:4} x {line}")
    print(f"client errors: {len(outcome.client_errors)}")
    for error in outcome.client_errors[:5]:
        print(f"  {error[:300]}")
    if outcome.aborted:
        print(f"ABORTED: {outcome.aborted}")


def summary(outcome: Outcome) -> None:
    print()
    print(f"markers written:                  {outcome.written}")
    print(f"markers seen, then lost:          {len(outcome.lost)}  {outcome.lost[:10] or ''}")
    print(f"divergent documents:              {len(outcome.divergent)}  {outcome.divergent or ''}")
    print(f"pod crashes:                      {len(outcome.crashes)}")
    for crash in outcome.crashes:
        print(f"  pod {crash.pod}: exit code {crash.code} {crash.why}")
    print(
        f"honest p99 before / during fuzz:  {_ms(_p99(outcome, 'calm'))} / "
        f"{_ms(_p99(outcome, 'fuzz'))}  (via the fuzzed pod: "
        f"{_ms(_p99(outcome, 'calm', FUZZED))} / {_ms(_p99(outcome, 'fuzz', FUZZED))})"
    )


def _plain(value: Any) -> Any:
    """Dataclasses, dicts and lists as JSON takes them (``dataclasses.asdict`` would turn a
    Counter's items into keys)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def save(outcome: Outcome) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"chaos-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw = _plain(outcome)
    raw["deliveries"] = len(outcome.deliveries)  # the figures above say what they came to
    path.write_text(json.dumps(raw, indent=1, default=str))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 documents, short phases")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    work = Path(tempfile.mkdtemp(prefix="tandem-chaos-"))
    print(f"plan: {plan}", file=sys.stderr)
    started = time.monotonic()
    outcome = asyncio.run(run(plan, work, lambda line: print(line, file=sys.stderr, flush=True)))
    print(
        f"run took {time.monotonic() - started:.0f} s; markers seen by another client: {outcome.seen}"
    )
    details(outcome)
    summary(outcome)
    print(f"results: {save(outcome)}")
    if args.keep or outcome.failed:
        print(f"pod logs: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if outcome.failed else 0)


if __name__ == "__main__":
    main()
