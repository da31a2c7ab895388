"""Search in cluster mode: two pods over Valkey, S3 and the MongoDB wire protocol share the
MongoDB index; an edit a stock client makes on one pod is found from the other within the
bound, and a worker process's retrieval object reads the same index."""

from __future__ import annotations

from pathlib import Path

from server.backends import open_backends
from server.search.wiring import open_knowledge
from server.settings import Settings
from tests.accounts import sign_up
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

from .helpers import eventually, new_file, paths, search


async def test_an_edit_on_one_pod_is_found_from_the_other(
    pods: list[TandemProcess], js: YjsClients, cluster_env: dict[str, str], tmp_path: Path
) -> None:
    p1, p2 = pods
    alice = await sign_up(p1.http_url)
    bob = await sign_up(p2.http_url)
    mallory = await sign_up(p2.http_url)
    ws = await alice.create_workspace()
    await alice.add_member(ws, bob, "viewer")
    other = await mallory.create_workspace()
    await new_file(mallory, other, "theirs.md", "armadillo of another workspace\n")
    entry = await new_file(alice, ws, "plan.md", "first draft\n")
    bob.base_url = p2.http_url
    assert paths(await search(bob, ws, "draft")) == ["plan.md"]  # the first full indexing
    await js.connect("a", p1.ws_url, entry["doc_id"], params={"token": alice.token})
    await js.insert("a", 0, "armadillo sighting\n")
    found = await eventually(bob, ws, "armadillo", lambda f: paths(f) == ["plan.md"])
    assert found["files"][0]["matches"][0] == {
        "line": 1,
        "text": "armadillo sighting",
        "highlights": [[0, 9]],
    }
    # A rename on the second pod is seen from the first.
    await bob.request("GET", f"/api/workspaces/{ws}/search", params={"q": "x"}, expect=200)
    await alice.request(
        "PATCH",
        f"/api/workspaces/{ws}/drive/entries/{entry['id']}",
        json={"name": "renamed.md"},
        expect=200,
    )
    await eventually(bob, ws, "armadillo", lambda f: paths(f) == ["renamed.md"])
    assert paths(await search(mallory, other, "armadillo")) == ["theirs.md"]
    refused = await mallory.request("GET", f"/api/workspaces/{ws}/search", params={"q": "a"})
    assert refused.status_code in (403, 404)

    # A `tandem assistant` worker's retrieval object, built as the worker builds it.
    settings = Settings.load({**cluster_env, "TANDEM_DATA_DIR": str(tmp_path)})
    async with open_backends(settings) as backends, open_knowledge(settings, backends) as knowledge:
        passages = await knowledge.retrieve(ws, "where was the armadillo sighted?", 5)
        assert [(p.path, p.start_line, p.file_id) for p in passages] == [
            ("renamed.md", 1, entry["id"])
        ]
        assert "armadillo sighting" in passages[0].text
        assert await knowledge.retrieve(other, "armadillo", limit=5) != []
        assert all(p.path == "theirs.md" for p in await knowledge.retrieve(other, "armadillo"))
