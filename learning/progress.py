"""How ``tandem finetune`` shows training: a progress bar on a terminal, JSON lines (one per
logged step: step, loss, tokens/s, ETA) in a Job's log. Both go to stderr; stdout carries
one result object per workspace."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO


class JsonLines:
    def __init__(self, out: TextIO = sys.stderr) -> None:
        self._out = out

    def __call__(self, workspace_id: str, event: dict[str, Any]) -> None:
        line = {"event": "progress", "workspace_id": workspace_id, **event}
        self._out.write(json.dumps(line, default=str) + "\n")
        self._out.flush()

    def close(self) -> None:
        return None


class Bar:
    """tqdm's bar, one per workspace as its training starts."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self._out = out
        self._bars: dict[str, Any] = {}

    def __call__(self, workspace_id: str, event: dict[str, Any]) -> None:
        from tqdm import tqdm

        total = event.get("total_steps")
        step = event.get("step")
        if total is None or step is None:
            return
        bar = self._bars.get(workspace_id)
        if bar is None:
            bar = self._bars[workspace_id] = tqdm(
                total=total, desc=workspace_id[:12], file=self._out, unit="step"
            )
        bar.update(step - bar.n)
        tokens = event.get("tokens_per_s")
        bar.set_postfix(loss=f"{event.get('loss', 0):.4f}", tok_s=tokens or "-", refresh=False)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def for_stream(out: TextIO = sys.stderr) -> JsonLines | Bar:
    return Bar(out) if out.isatty() else JsonLines(out)
