"""Presence across two `tandem serve` pods (Valkey, S3 and a shared accounts database): an id
announced on one pod cannot be claimed or removed through the other, names come from the
account on every pod, and the owner's removal on close crosses pods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sync.protocol import AwarenessEntry, AwarenessMessage, encode, encode_awareness
from tests.accounts import Account, sign_up
from tests.cluster.conftest import s3, valkey  # noqa: F401 - session fixtures
from tests.cluster.pods import cluster_env, pod
from tests.cluster.services import S3Server, Valkey
from tests.mongo import MongoServer
from tests.yjs import YjsClients

from .test_presence_interop import shown


def presence(client_id: int, clock: int, state: Any) -> bytes:
    text = state if isinstance(state, str) else json.dumps(state)
    return encode(AwarenessMessage(encode_awareness([AwarenessEntry(client_id, clock, text)])))


async def test_an_id_known_from_another_pod_cannot_be_forged_or_removed(
    tmp_path: Path,
    valkey: Valkey,  # noqa: F811
    s3: S3Server,  # noqa: F811
    mongo_server: MongoServer,
    js: YjsClients,
) -> None:
    env = cluster_env(valkey, s3, TANDEM_MONGODB_URL=mongo_server.url(), TANDEM_OPEN_ACCESS="false")
    a = await pod(tmp_path, 0, env).start()
    b = await pod(tmp_path, 1, env).start()
    try:
        owner = await sign_up(a.http_url)
        ws = await owner.create_workspace()
        doc = await owner.create_doc(ws)
        viewer, editor = await sign_up(b.http_url), await sign_up(b.http_url)
        await owner.add_member(ws, viewer, "viewer")
        await owner.add_member(ws, editor, "editor")

        def params(account: Account) -> dict[str, str]:
            return {"token": account.token}

        owner_id = await js.connect("owner", a.ws_url, doc, params=params(owner))
        await js.connect("near", a.ws_url, doc, params=params(editor))
        await js.connect("far", b.ws_url, doc, params=params(editor))
        await js.set_awareness("owner", {"user": {"name": "someone else"}, "cursor": 1})
        genuine = {"user": shown(owner), "cursor": 1}
        await js.wait_awareness("far", has=owner_id, state=genuine)

        await js.raw_socket("forger", f"{b.ws_url}/{doc}?token={viewer.token}")
        await js.raw_send("forger", presence(owner_id, 500, {"user": {"name": "HACKED"}}))
        await js.raw_send("forger", presence(owner_id, 501, "null"))
        await js.raw_send("forger", presence(31337, 1, {"mark": 1}))
        # One connection's frames are handled, and relayed, in order: past the mark, both
        # pods have dealt with the forgeries.
        marked = {"mark": 1, "user": shown(viewer)}
        for name in ("far", "near"):
            seen = await js.wait_awareness(name, has=31337, state=marked)
            assert seen[owner_id] == genuine

        await js.insert("owner", 0, "from pod a")
        await js.wait_text("far", equals="from pod a")
        await js.destroy("owner")
        await js.wait_awareness("far", lacks=owner_id)
        await js.wait_awareness("near", lacks=owner_id)
        for name in ("near", "far"):
            assert (await js.status(name))["closes"] == []
    finally:
        await a.kill()
        await b.kill()
