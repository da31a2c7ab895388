"""Reproducer of what the chaos suite's fuzz found (bench/README.md, "Chaos"): a client can
put content into the document's Y.Text that no Y.Text shows but that counts in its positions,
and every stock client's index-based edits land off by one from then on.

An update does not say which type a root is: ``doc.getArray("content").insert(0, [bytes])``
writes an item of binary content under the root ``content``. Tandem accepts and relays it (as
the y-websocket reference server does), and in every client's ``getText("content")`` it is an
item that ``toString()`` and ``toDelta()`` skip but ``length`` and ``insert(index)`` count.
An editor binding (y-codemirror, y-textarea) maps the editor's positions to those of
``toString()``: each such item before a keystroke shifts it one place left, into the middle
of a word, for every user, and nobody can select the item to delete it.

    .venv/bin/python -m bench.chaos.hidden_content

Prints what the stock client holds before and after the honest edit; exits 1 while the
edit lands in the wrong place."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from pycrdt import Array, Doc

from sync.protocol import SyncUpdate, encode
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


def hostile_update() -> bytes:
    """Binary content under the root ``content``. Client id 1: of items with no neighbours
    when written, the lowest client's comes first, so this one lands before the text."""
    doc = Doc(client_id=1)
    doc.get("content", type=Array).append(b"\x01")
    return doc.get_update()


async def reproduce(work: Path) -> bool:
    async with (
        TandemProcess(work, env={"TANDEM_OPEN_ACCESS": "true"}) as server,
        YjsClients() as js,
    ):
        url = server.ws_url
        await js.connect("honest", url, "doc")
        await js.insert("honest", 0, "[a][b]")
        await js.raw_socket("hostile", f"{url}/doc")
        await js.raw_send("hostile", encode(SyncUpdate(hostile_update())))
        await js.connect("other", url, "doc")
        await js.converge("honest", "other")
        shown = await js.text("honest")
        # The honest user puts the cursor after "[a]" and types "[c]".
        await js.insert("honest", shown.index("]") + 1, "[c]")
        after = await js.converge("honest", "other")
        print(f"shown before: {shown!r}; after typing [c] after [a]: {after!r}")
        return after == "[a][c][b]"


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        ok = asyncio.run(reproduce(Path(work)))
    print("edit landed where typed" if ok else "edit landed off by one: hidden content")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
