"""Restoring a point as a new edit: the difference between the current text and the point's
text, applied in one transaction. Nothing is rewritten: the history keeps the text before the
restore (a point taken first), so the restore itself can be restored away."""

from __future__ import annotations

import difflib

from pycrdt import Text

Opcodes = list[tuple[str, int, int, int, int]]


def differences(current: str, target: str) -> Opcodes:
    """difflib's opcodes without the equal runs; quadratic at worst, so callers run it on a
    worker thread for big texts."""
    matcher = difflib.SequenceMatcher(None, current, target, autojunk=False)
    return [op for op in matcher.get_opcodes() if op[0] != "equal"]


def apply(text: Text, current: str, target: str, ops: Opcodes) -> int:
    """Applies ``ops`` (computed from ``current``, which must still be the text) from the end
    backwards, so earlier offsets stay valid; returns how many characters changed. pycrdt
    indexes UTF-8 bytes: offsets are converted from code points."""
    changed = 0
    for _tag, i1, i2, j1, j2 in reversed(ops):
        start = len(current[:i1].encode())
        end = start + len(current[i1:i2].encode())
        if end > start:
            del text[start:end]
        if j2 > j1:
            text.insert(start, target[j1:j2])
        changed += (i2 - i1) + (j2 - j1)
    return changed
