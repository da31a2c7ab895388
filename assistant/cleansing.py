"""Input cleansing: what a person or a document hands the model is normalised first.

Zero-width and bidi control characters hide instructions from the reader but not from the
model (LESSONS: document text is untrusted); other control characters have no business in a
prompt. Newlines and tabs stay: code needs them."""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = re.compile(
    "["
    "\u200b-\u200f"  # zero-width space/joiners, LRM/RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u2069"  # bidi isolates
    "\ufeff"  # zero-width no-break space / BOM
    "\u00ad"  # soft hyphen
    "\U000e0000-\U000e007f"  # tag characters (invisible "ASCII smuggling")
    "]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def strip_invisible(text: str) -> str:
    """Removes invisible and control characters; keeps newlines and tabs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", _INVISIBLE.sub("", text))


def cleanse_instruction(text: str, max_chars: int) -> str:
    """An instruction is prose: NFKC, no invisible characters, whitespace collapsed, capped."""
    text = strip_invisible(unicodedata.normalize("NFKC", text))
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    text = "\n".join(line.strip() for line in text.split("\n")).strip()
    return text[:max_chars]


def cleanse_document_text(text: str, max_chars: int, *, keep: str = "start") -> str:
    """Document text keeps its layout (indentation matters in code) but loses what is invisible;
    capped from the side away from the selection (``keep`` says which end to keep)."""
    text = strip_invisible(text)
    if len(text) <= max_chars:
        return text
    return text[:max_chars] if keep == "start" else text[len(text) - max_chars :]
