"""From an answer's code blocks to edits of files: the fenced blocks of the answer's text, the
file each targets (its fence's info string), and the lines of that file it replaces.

The convention the model is told to follow::

    ```python path=src/app.py lines=10-24
    ...the new text of lines 10 to 24...
    ```

``path`` is relative to the workspace's top folder (a leading ``./`` or ``/`` is ignored);
``lines=A-B`` (or ``lines=A``) are 1-based and inclusive. Without ``lines`` the block's place
is found by matching its lines against the file's (``locate``). Values may be quoted
(``path="my notes.md"``).

Why a fence scanner of our own: markdown-it-py is in the development environment only through
the training extra (transformers -> typer -> rich); the pods' image does not carry it, and one
rule (CommonMark 0.31, section 4.5) is all we need. It follows that rule for fences indented
up to three spaces (tests compare it with markdown-it-py) and, unlike CommonMark at the top
level, also reads deeper-indented fences as fences, since models nest code blocks in list
items. Block quotes are not looked into. Everything here is pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

_OPENING = re.compile(r"(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_ATTRIBUTE = re.compile(
    r"""(?P<key>[A-Za-z_][\w-]*)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>\S+))"""
)
_LINES = re.compile(r"^(?P<start>\d{1,9})(?:-(?P<end>\d{1,9}))?$")
MAX_WINDOW_LINES = 5_000
"""Files longer than this are not searched window by window (the anchors still are)."""


@dataclass(frozen=True)
class Fence:
    index: int
    """Its place among all fenced blocks of the text, from 0."""
    info: str
    code: str
    """The block's lines, without the fences and without a final newline."""
    line: int
    """The 1-based line of the text where it opens."""
    closed: bool


@dataclass(frozen=True)
class Target:
    language: str | None
    path: str | None
    lines: tuple[int, int] | None


class TargetError(ValueError):
    """The info string names no usable target."""


class NoMatchError(LookupError):
    """The block's place in the file cannot be found (or it would change nothing)."""


def _indent(line: str) -> tuple[int, str]:
    stripped = line.lstrip(" \t")
    return len(line[: len(line) - len(stripped)].expandtabs(4)), stripped


def _dedent(line: str, width: int) -> str:
    removed = 0
    while removed < width and line[:1] == " ":
        line = line[1:]
        removed += 1
    return line


def split_lines(text: str) -> list[str]:
    """The text's lines without their newlines ("" has none; a final newline ends a line)."""
    if not text:
        return []
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


def fences(text: str) -> list[Fence]:
    """The fenced code blocks of a Markdown text, in order. An unclosed fence runs to the end
    (``closed`` False)."""
    lines = split_lines(re.sub(r"\r\n?", "\n", text))
    found: list[Fence] = []
    i = 0
    while i < len(lines):
        width, stripped = _indent(lines[i])
        match = _OPENING.match(stripped)
        if not match or (match["fence"][0] == "`" and "`" in match["info"]):
            i += 1
            continue
        fence = match["fence"]
        close_indent = 3 if width <= 3 else width + 3
        closing = re.compile(
            rf"^ {{0,{close_indent}}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$"
        )
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            body.append(_dedent(lines[j], width))
            j += 1
        info = _ESCAPED.sub(r"\1", match["info"].strip())
        found.append(Fence(len(found), info, "\n".join(body), i + 1, j < len(lines)))
        i = j + 1
    return found


def target(info: str) -> Target:
    """Language, path and lines from an info string such as ``python path=a.py lines=3-9``.
    Raises TargetError for lines that are no range."""
    words = info.split(maxsplit=1)
    language = words[0] if words and "=" not in words[0] else None
    attributes = {
        m["key"].lower(): next(v for v in (m["dq"], m["sq"], m["bare"]) if v is not None)
        for m in _ATTRIBUTE.finditer(info)
    }
    path = attributes.get("path")
    if path is not None:
        path = path.strip().removeprefix("./").lstrip("/") or None
    lines = None
    if (raw := attributes.get("lines")) is not None:
        found = _LINES.match(raw)
        if found is None:
            raise TargetError(f"lines={raw} is not a range like lines=10-24")
        start = int(found["start"])
        end = int(found["end"] or start)
        if not 1 <= start <= end:
            raise TargetError(f"lines={raw} is not a range of lines from 1")
        lines = (start, end)
    return Target(language, path, lines)


def _junk(line: str) -> bool:
    """Blank lines and lone brackets match anywhere: they never anchor a block."""
    return not any(c.isalnum() for c in line)


def _similar(a: str, b: str) -> bool:
    return SequenceMatcher(None, a, b).ratio() >= 0.6


def _anchored(file_lines: list[str], block: list[str]) -> tuple[int, int] | None:
    """The region between the block's first and last lines that equal unchanged lines of the
    file, around its longest run of equal lines; changed lines at its edges that resemble
    the file's lines next to the region replace them. 0-based, end exclusive."""
    matcher = SequenceMatcher(_junk, block, file_lines, autojunk=False)
    matches = [m for m in matcher.get_matching_blocks() if m.size]
    if not matches:
        return None
    seed = max(range(len(matches)), key=lambda k: matches[k].size)
    slack = max(3, len(block) // 2)
    first = last = matches[seed]
    kept = [first]
    for m in reversed(matches[:seed]):  # a far-away match is another place, not this one
        if first.b - (m.b + m.size) > 2 * (first.a - (m.a + m.size)) + slack:
            break
        first = m
        kept.append(m)
    for m in matches[seed + 1 :]:
        if m.b - (last.b + last.size) > 2 * (m.a - (last.a + last.size)) + slack:
            break
        last = m
        kept.append(m)
    anchors = sum(1 for m in kept for line in block[m.a : m.a + m.size] if not _junk(line))
    if anchors < min(2, sum(1 for line in block if not _junk(line))):
        return None
    start, a = first.b, first.a
    while a > 0 and start > 0 and _similar(block[a - 1], file_lines[start - 1]):
        a, start = a - 1, start - 1
    end, a = last.b + last.size, last.a + last.size
    while a < len(block) and end < len(file_lines) and _similar(block[a], file_lines[end]):
        a, end = a + 1, end + 1
    return start, end


def _best_window(file_lines: list[str], block: list[str]) -> tuple[int, int] | None:
    """The run of as many lines as the block whose text is most like it (at least 60%)."""
    if len(file_lines) > MAX_WINDOW_LINES:
        return None
    width = min(len(block), len(file_lines))
    matcher = SequenceMatcher(None, autojunk=False)
    matcher.set_seq2("\n".join(block))
    scored: list[tuple[float, int]] = []
    for start in range(len(file_lines) - width + 1):
        matcher.set_seq1("\n".join(file_lines[start : start + width]))
        scored.append((matcher.quick_ratio(), start))
    best: tuple[float, int] | None = None
    for _, start in sorted(scored, reverse=True)[:3]:
        matcher.set_seq1("\n".join(file_lines[start : start + width]))
        ratio = matcher.ratio()
        if best is None or ratio > best[0]:
            best = (ratio, start)
    if best is None or best[0] < 0.6:
        return None
    return best[1], best[1] + width


def locate(file_text: str, code: str, lines: tuple[int, int] | None = None) -> tuple[int, int]:
    """The 1-based inclusive lines of ``file_text`` that the block ``code`` replaces: the given
    ``lines``, else the region its lines match, else (an empty file) the whole file, as
    (1, 0). Raises NoMatchError when there is no such place, or the block would change
    nothing there."""
    file_lines = split_lines(file_text)
    block = split_lines(code + "\n") if code else []
    if lines is not None:
        start, end = lines
        if end > len(file_lines):
            raise NoMatchError(f"lines {start}-{end}: the file has {len(file_lines)} lines")
        found = (start - 1, end)
    elif not file_lines:
        found = (0, 0)
    elif not block:
        raise NoMatchError("the block is empty and names no lines")
    else:
        region = _anchored(file_lines, block) or _best_window(file_lines, block)
        if region is None:
            raise NoMatchError("the block matches no part of the file; name its lines=")
        found = region
    if file_lines[found[0] : found[1]] == block:
        raise NoMatchError("the file already reads like this")
    return found[0] + 1, found[1]


def span(text: str, start_line: int, end_line: int) -> tuple[int, int]:
    """Code point offsets of lines ``start_line``..``end_line`` (1-based inclusive) with the
    last one's newline; an empty range (end = start - 1) is the place before ``start_line``."""
    offsets = [0]
    for line in split_lines(text):
        offsets.append(min(len(text), offsets[-1] + len(line) + 1))
    start = offsets[min(start_line - 1, len(offsets) - 1)]
    end = offsets[min(end_line, len(offsets) - 1)] if end_line >= start_line else start
    return start, end


def replacement(text: str, start: int, end: int, code: str) -> str:
    """What replaces ``text[start:end]`` (whole lines, see ``span``) so that the block's lines
    take their place with the file's newlines kept."""
    if not code:
        return ""
    if start == end == len(text) and text and not text.endswith("\n"):
        return "\n" + code
    if end > start and not text[start:end].endswith("\n"):
        return code  # the last line of a file without a final newline
    return code + "\n"
