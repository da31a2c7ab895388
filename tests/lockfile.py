"""requirements.lock (scripts/lock.sh) read as {normalized name: version}."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"


def normalize(name: str) -> str:
    """PEP 503: case, and runs of '-', '_' and '.', do not tell names apart."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, pinned = line.partition("==")
            assert sep and pinned, f"requirements.lock: not a pin: {line!r}"
            pins[normalize(name)] = pinned.strip()
    return pins
