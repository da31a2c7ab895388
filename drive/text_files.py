"""Which uploads become collaborative documents: text and code, by extension, by declared
type, or by sniffing (valid UTF-8 with no NUL). Anything else is kept as bytes."""

from __future__ import annotations

import mimetypes
import re
from pathlib import PurePosixPath

_EXTENSIONS = """txt md markdown rst adoc tex csv tsv log ini cfg conf toml yaml yml json jsonc xml html
    htm css scss sass less js mjs cjs jsx ts tsx vue svelte py pyi rb php java kt kts scala go
    rs c h cc cpp cxx hpp hh cs fs swift m mm r jl lua pl pm sh bash zsh fish ps1 bat sql
    graphql proto dart ex exs erl hs ml elm clj cljs lisp scm nim zig v sv vhd tf hcl
    dockerfile makefile cmake gradle properties env gitignore editorconfig patch diff"""
TEXT_EXTENSIONS = frozenset(_EXTENSIONS.split())
TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-yaml",
        "application/yaml",
        "application/toml",
        "application/x-sh",
        "application/sql",
    }
)
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,127}")
SNIFF_TYPES = frozenset({"", "application/octet-stream"})
"""Declared types that say nothing: decide by the bytes."""


def _extension(name: str) -> str:
    path = PurePosixPath(name.lower())
    return path.suffix.lstrip(".") or path.name


def looks_textual(name: str, content_type: str | None) -> bool | None:
    """True for text by name or type, False for a declared non-text type, None to sniff."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if _extension(name) in TEXT_EXTENSIONS:
        return True
    if declared.startswith("text/") or declared in TEXT_TYPES or declared.endswith("+json"):
        return True
    if declared in SNIFF_TYPES:
        return None
    return False


def decode_text(data: bytes) -> str | None:
    """The text when ``data`` is UTF-8 without NUL bytes, else None."""
    if b"\0" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.removeprefix("\ufeff")


def text_content_type(name: str, declared: str | None) -> str:
    base = (declared or "").split(";")[0].strip().lower()
    if not base or base in SNIFF_TYPES:
        base = mimetypes.guess_type(name)[0] or "text/plain"
    return base


def binary_content_type(name: str, declared: str | None) -> str:
    base = (declared or "").split(";")[0].strip().lower()
    if _CONTENT_TYPE.fullmatch(base) and base != "application/octet-stream":
        return base
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
