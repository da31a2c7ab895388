"""Every update and state vector stock Yjs writes passes the walk before yrs: the browsers'
edits of text, formatting, embeds, maps, arrays, nested types, XML and subdocuments, their
documents whole, diffs and merges (tests/js/random_edits.mjs). A false refusal loses an edit."""

from __future__ import annotations

import base64
import subprocess

import pytest

from sync.update_format import check_state_vector, check_update, walk_update
from tests.yjs import JS_DIR, require_node_modules

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_update_yjs_writes_passes(seed: int) -> None:
    require_node_modules()
    out = subprocess.run(
        ["node", str(JS_DIR / "random_edits.mjs"), str(seed), "300"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = [line.split(" ", 1) for line in out.splitlines()]
    assert len(lines) > 600
    for kind, data in lines:
        raw = base64.b64decode(data)
        if kind == "u":
            check_update(raw)
            walk_update(raw)
        else:
            check_state_vector(raw)
