"""Cleaning what the model wrote before it can be accepted. Models asked for bare text still
often wrap code in a Markdown fence; accepting that would put the fence into the file."""

from __future__ import annotations

import re

_OPEN = re.compile(r"\A[ \t]*```[\w+#.-]*[ \t]*\n")
_CLOSE = re.compile(r"\n?[ \t]*```[ \t]*\n?\Z")


def fence(text: str, original: str) -> tuple[str, str] | None:
    """The opening and closing fence around the whole text, or None when there is none (or
    the original text was fenced itself, e.g. in a Markdown document)."""
    if original.lstrip().startswith("```"):
        return None
    opening = _OPEN.match(text)
    if opening is None:
        return None
    closing = _CLOSE.search(text, opening.end())
    if closing is None or "```" in text[opening.end() : closing.start()]:
        return None
    return opening.group(0), closing.group(0)


def unfenced(text: str, original: str) -> str:
    found = fence(text, original)
    if found is None:
        return text
    return text[len(found[0]) : len(text) - len(found[1])]
