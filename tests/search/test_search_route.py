"""``GET /api/workspaces/{ws}/search`` on a real ``tandem serve`` (embedded: SQLite FTS5):
files best first with their lines highlighted, following stock clients' edits and the
drive's changes within the stated bound, members only, bad queries refused."""

from __future__ import annotations

from tests.accounts import sign_up
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

from .helpers import eventually, new_file, paths, search

TARGET = (
    "\n".join(f"# filler line {n}" for n in range(1, 50))
    + "\ndef parse_config(path):\n    return loadYaml(path)\n"
)


async def test_files_come_best_first_with_their_lines_highlighted(server: TandemProcess) -> None:
    alice, carol = await sign_up(server.http_url), await sign_up(server.http_url)
    ws = await alice.create_workspace()
    await alice.add_member(ws, carol, "viewer")
    for n in range(30):
        await new_file(alice, ws, f"mod{n}.py", f"def render_{n}(page):\n    return page\n")
    await new_file(alice, ws, "notes.md", "We should parse things one day.\n")
    target = await new_file(alice, ws, "settings.py", TARGET)
    # Files that predate the first search: indexed in full by it. A viewer searches too.
    found = await search(carol, ws, "parse_config")
    assert paths(found) == ["settings.py"]
    first = found["files"][0]
    assert first["file_id"] == target["id"] and first["doc_id"] == target["doc_id"]
    assert first["matches"] == [
        {"line": 50, "text": "def parse_config(path):", "highlights": [[4, 16]]}
    ]
    assert found["query"] == "parse_config" and found["took_ms"] >= 0
    # Every word must be there; each line says where.
    both = await search(alice, ws, "parse config")
    assert paths(both) == ["settings.py"]
    loose = await search(alice, ws, "parse")
    assert set(paths(loose)) == {"settings.py", "notes.md"}
    five = await search(alice, ws, "render", limit=5)
    assert len(five["files"]) == 5 and all(p.startswith("mod") for p in paths(five))
    assert (await search(alice, ws, "nothingsuch"))["files"] == []
    assert (await search(alice, ws, '"*" NEAR( -OR'))["files"] == []


async def test_an_edit_by_a_stock_client_shows_within_the_bound(
    server: TandemProcess, js: YjsClients
) -> None:
    alice = await sign_up(server.http_url)
    ws = await alice.create_workspace()
    entry = await new_file(alice, ws, "draft.md", "first words\n")
    assert paths(await search(alice, ws, "words")) == ["draft.md"]
    await js.connect("a", server.ws_url, entry["doc_id"], params={"token": alice.token})
    await js.insert("a", 0, "quokkas everywhere\n")
    found = await eventually(alice, ws, "quokkas", lambda f: paths(f) == ["draft.md"])
    assert found["files"][0]["matches"][0]["line"] == 1
    await js.delete("a", 0, len("quokkas everywhere\n"))
    await eventually(alice, ws, "quokkas", lambda f: f["files"] == [])


async def test_renames_moves_trash_restore_and_deletes_follow(server: TandemProcess) -> None:
    alice = await sign_up(server.http_url)
    ws = await alice.create_workspace()
    await search(alice, ws, "anything")  # indexed from now on: changes are followed
    base = f"/api/workspaces/{ws}/drive"
    folder = (
        await alice.request("POST", f"{base}/folders", json={"name": "docs"}, expect=201)
    ).json()
    entry = await new_file(alice, ws, "a.md", "pelican brief\n", parent_id=folder["id"])
    await eventually(alice, ws, "pelican", lambda f: paths(f) == ["docs/a.md"])
    await alice.request("PATCH", f"{base}/entries/{entry['id']}", json={"name": "b.md"}, expect=200)
    await eventually(alice, ws, "pelican", lambda f: paths(f) == ["docs/b.md"])
    await alice.request(
        "PATCH", f"{base}/entries/{entry['id']}", json={"parent_id": None}, expect=200
    )
    await eventually(alice, ws, "pelican", lambda f: paths(f) == ["b.md"])
    await alice.request("DELETE", f"{base}/entries/{entry['id']}", expect=200)
    await eventually(alice, ws, "pelican", lambda f: f["files"] == [])
    await alice.request("POST", f"{base}/entries/{entry['id']}/restore", json={}, expect=200)
    await eventually(alice, ws, "pelican", lambda f: paths(f) == ["b.md"])
    # A trashed folder hides what is below it.
    await alice.request(
        "PATCH", f"{base}/entries/{entry['id']}", json={"parent_id": folder["id"]}, expect=200
    )
    await eventually(alice, ws, "pelican", lambda f: paths(f) == ["docs/b.md"])
    await alice.request("DELETE", f"{base}/entries/{folder['id']}", expect=200)
    await eventually(alice, ws, "pelican", lambda f: f["files"] == [])
    await alice.request("DELETE", f"{base}/trash/{folder['id']}", expect=200)
    await alice.request(
        "POST", f"{base}/files", json={"name": "c.md", "text": "pelican"}, expect=201
    )
    await eventually(alice, ws, "pelican", lambda f: paths(f) == ["c.md"])


async def test_members_see_only_their_workspaces_and_bad_queries_are_refused(
    server: TandemProcess,
) -> None:
    alice, mallory = await sign_up(server.http_url), await sign_up(server.http_url)
    ws = await alice.create_workspace()
    other = await mallory.create_workspace()
    await new_file(alice, ws, "secret.md", "the launch codes\n")
    await new_file(mallory, other, "mine.md", "my launch plans\n")
    assert paths(await search(alice, ws, "launch")) == ["secret.md"]
    assert paths(await search(mallory, other, "launch")) == ["mine.md"]
    refused = await mallory.request("GET", f"/api/workspaces/{ws}/search", params={"q": "launch"})
    assert refused.status_code in (403, 404)
    for params in (
        {"q": ""},
        {"q": "   "},
        {},
        {"q": "x" * 1001},
        {"q": "a", "limit": "0"},
        {"q": "a", "limit": "101"},
        {"q": "a", "limit": "ten"},
    ):
        bad = await alice.request("GET", f"/api/workspaces/{ws}/search", params=params)
        assert bad.status_code == 400, params
        assert bad.json()["error"]["code"] == "invalid_query"


async def test_hostile_queries_are_answered_never_with_a_5xx(server: TandemProcess) -> None:
    alice = await sign_up(server.http_url)
    ws = await alice.create_workspace()
    await new_file(alice, ws, "a.md", "alpha bravo ünïcödé 日本語\n")
    hostile = [
        '"',
        "*",
        "alpha*",
        "NEAR(alpha bravo)",
        "alpha OR bravo",
        "-alpha",
        "body:x",
        "((",
        "🎉 ünïcödé",
        "a" * 1000,
        "alpha " * 150,
        "\x00",
        "%00",
        "{$ne:1}",
    ]
    for q in hostile:
        response = await alice.request("GET", f"/api/workspaces/{ws}/search", params={"q": q})
        assert response.status_code in (200, 400), (q, response.text)
        if response.status_code == 200:
            assert all(f["path"] == "a.md" for f in response.json()["files"])
    # A lone surrogate and invalid UTF-8, percent-encoded as a hostile client would.
    for raw in ("%ED%A0%80", "%FF%FE", "%C0%80"):
        response = await alice.request("GET", f"/api/workspaces/{ws}/search?q={raw}")
        assert response.status_code in (200, 400), (raw, response.text)
    for limit in ("-1", "1e3", "", "99999999999999999999", "nan"):
        response = await alice.request(
            "GET", f"/api/workspaces/{ws}/search", params={"q": "alpha", "limit": limit}
        )
        assert response.status_code == 400, limit
