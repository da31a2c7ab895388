"""The drive over HTTP against a real `tandem serve`: tree operations, text files edited by
real Yjs clients, binary files, zip downloads, trash."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import time
import zipfile
from collections.abc import AsyncIterator

import pytest

from tests.accounts import sign_up
from tests.drive.drive_client import DriveApi
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


async def test_folders_and_files_with_their_metadata(drive: DriveApi) -> None:
    docs = await drive.folder("docs")
    nested = await drive.folder("2026", docs["id"])
    note = await drive.text_file("plan.md", "# Plan\n", nested["id"])
    assert docs["kind"] == "folder" and docs["parent_id"] is None
    assert note["kind"] == "text" and note["size"] == 7 and note["doc_id"]
    assert note["content_type"] == "text/markdown"
    assert note["created_by"] == drive.account.user_id == note["modified_by"]
    assert note["created_at"] == note["modified_at"] and note["trashed_at"] is None
    assert await drive.names() == ["docs"]
    assert await drive.names(docs["id"]) == ["2026"]
    stat = (await drive.call("GET", f"/entries/{note['id']}", expect=200)).json()
    assert stat == note

    renamed = await drive.update(note["id"], name="plan v2.md")
    assert renamed["name"] == "plan v2.md" and renamed["modified_at"] >= note["modified_at"]
    moved = await drive.update(note["id"], parent_id=None)
    assert moved["parent_id"] is None
    assert await drive.names() == ["docs", "plan v2.md"]
    assert await drive.names(nested["id"]) == []
    both = await drive.update(nested["id"], name="archive", parent_id=None)
    assert (both["name"], both["parent_id"]) == ("archive", None)

    tree = await drive.tree()
    assert tree["tree_doc"] == f"tree:{drive.ws}"
    assert {e["name"] for e in tree["entries"]} == {"docs", "archive", "plan v2.md"}
    assert tree["usage_bytes"] == 7


async def test_upload_edit_with_yjs_clients_then_download(
    drive: DriveApi, server: TandemProcess, js: YjsClients
) -> None:
    source = "def greet(name):\n    return f'hello {name}'\n"
    entry = (await drive.upload("greet.py", source.encode())).json()
    assert entry["kind"] == "text" and entry["content_type"] == "text/x-python"
    token = {"token": drive.account.token}
    await js.connect("a", server.ws_url, entry["doc_id"], params=token)
    await js.connect("b", server.ws_url, entry["doc_id"], params=token)
    await js.wait_text("a", equals=source)
    await js.insert("a", 0, "# greeting\n")
    await js.wait_text("b", equals="# greeting\n" + source)
    await js.insert("b", len("# greeting\n" + source), "print(greet('tandem'))\n")
    edited = await js.converge("a", "b")
    assert edited == "# greeting\n" + source + "print(greet('tandem'))\n"
    response = await drive.content(entry["id"])
    assert response.text == edited
    assert response.headers["content-type"] == "text/x-python; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;")


async def test_a_text_files_size_and_modification_follow_its_edits(
    drive: DriveApi, server: TandemProcess, js: YjsClients
) -> None:
    start = "héllo\n"
    entry = await drive.text_file("notes.md", start)
    assert entry["size"] == len(start.encode())
    editor = await sign_up(server.http_url)
    await drive.account.add_member(drive.ws, editor, "editor")
    await js.connect("e", server.ws_url, entry["doc_id"], params={"token": editor.token})
    await js.wait_text("e", equals=start)
    await js.insert("e", len(start), "wörld ✓\n")
    size = len("héllo\nwörld ✓\n".encode())

    deadline = time.monotonic() + 10
    while (found := (await drive.call("GET", f"/entries/{entry['id']}")).json())["size"] != size:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)  # polling the entry with a deadline
    assert found["modified_by"] == editor.user_id and found["modified_at"] > entry["modified_at"]
    assert found["created_by"] == drive.account.user_id
    tree = await drive.tree()
    assert tree["usage_bytes"] == size  # the quota counts what the file holds now
    (listed,) = [e for e in tree["entries"] if e["id"] == entry["id"]]
    assert listed["size"] == size


async def test_text_is_recognised_by_extension_type_or_sniffing(drive: DriveApi) -> None:
    by_type = (await drive.upload("README", b"plain words", content_type="text/plain")).json()
    sniffed = (await drive.upload("notes", "naïve ✓".encode())).json()
    binary_sniffed = (await drive.upload("blob", b"\x00\x01\x02\xff")).json()
    not_utf8 = (await drive.upload("latin.txt", "café".encode("latin-1"))).json()
    declared_binary = (await drive.upload("x.dat", b"abc", content_type="image/png")).json()
    assert [by_type["kind"], sniffed["kind"]] == ["text", "text"]
    assert [binary_sniffed["kind"], not_utf8["kind"], declared_binary["kind"]] == ["binary"] * 3
    assert declared_binary["content_type"] == "image/png"
    assert (await drive.content(not_utf8["id"])).content == "café".encode("latin-1")


async def test_binary_round_trip_of_50_mb(drive: DriveApi) -> None:
    size = 50 * 1024 * 1024
    seed = os.urandom(1024 * 1024)
    digest = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for i in range(50):
            chunk = hashlib.sha256(bytes([i])).digest() + seed[32:]
            digest.update(chunk)
            yield chunk

    entry = (await drive.upload("big.bin", body(), content_type="application/x-thing")).json()
    assert entry["kind"] == "binary" and entry["size"] == size
    received = hashlib.sha256()
    total = 0
    async with drive.stream(entry["id"]) as response:
        assert response.headers["content-type"] == "application/x-thing"
        assert response.headers["content-length"] == str(size)
        async for chunk in response.aiter_bytes():
            received.update(chunk)
            total += len(chunk)
    assert total == size and received.hexdigest() == digest.hexdigest()
    assert (await drive.tree())["usage_bytes"] == size


async def test_folder_downloads_as_a_zip_with_current_text(
    drive: DriveApi, server: TandemProcess, js: YjsClients
) -> None:
    project = await drive.folder("project")
    src = await drive.folder("src", project["id"])
    await drive.folder("empty", project["id"])
    code = await drive.text_file("main.py", "print('v1')\n", src["id"])
    blob = os.urandom(70_000)
    await drive.upload("logo.png", blob, project["id"], content_type="image/png")
    gone = await drive.text_file("old.txt", "old", project["id"])
    await drive.trash(gone["id"])
    await js.connect("a", server.ws_url, code["doc_id"], params={"token": drive.account.token})
    await js.insert("a", 0, "# edited\n")
    await js.wait_text("a", equals="# edited\nprint('v1')\n")
    # The server has the edit once it answers a download with it; wait for that condition.
    await wait_download(drive, code["id"], "# edited\nprint('v1')\n")

    response = await drive.content(project["id"])
    assert response.headers["content-type"] == "application/zip"
    assert "project.zip" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["empty/", "logo.png", "src/", "src/main.py"]
    assert archive.read("src/main.py") == b"# edited\nprint('v1')\n"
    assert archive.read("logo.png") == blob
    whole = await drive.call("GET", "/archive", expect=200)
    assert "project/src/main.py" in zipfile.ZipFile(io.BytesIO(whole.content)).namelist()


async def test_a_zip_streams_as_it_is_written_and_unpacks_whole(drive: DriveApi) -> None:
    """No Content-Length: the archive is sent while it is made, not spooled first (a whole
    drive could outgrow the pod's /tmp); its members' sizes follow their data."""
    folder = await drive.folder("media")
    blobs = {f"clip-{i}.bin": os.urandom(3 * 1024 * 1024 + i) for i in range(3)}
    for name, blob in blobs.items():
        await drive.upload(name, blob, folder["id"], content_type="application/octet-stream")
    await drive.text_file("notes.md", "# Media\n", folder["id"])
    chunks = 0
    async with drive.stream(folder["id"]) as response:
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        body = b""
        async for chunk in response.aiter_raw():
            body += chunk
            chunks += 1
    assert chunks > len(blobs)  # sent in pieces as it was written
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None  # every member's CRC checks out
    assert {n: archive.read(n) for n in blobs} == blobs
    assert archive.read("notes.md") == b"# Media\n"
    assert all(info.flag_bits & 0x08 for info in archive.infolist())  # data descriptors


async def test_zipping_a_trashed_folder_is_an_http_error_before_any_byte(drive: DriveApi) -> None:
    folder = await drive.folder("old")
    await drive.text_file("a.md", "a", folder["id"])
    await drive.trash(folder["id"])
    response = await drive.call("GET", f"/entries/{folder['id']}/content")
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/json")


async def wait_download(drive: DriveApi, entry_id: str, text: str) -> None:
    import asyncio

    async def until() -> None:
        while (await drive.content(entry_id)).text != text:
            await asyncio.sleep(0.05)  # polling the HTTP API: there is no event to wait on

    await asyncio.wait_for(until(), 10)


async def test_trash_hides_and_restore_brings_back(drive: DriveApi) -> None:
    folder = await drive.folder("reports")
    inner = await drive.text_file("q1.txt", "numbers", folder["id"])
    trashed = await drive.trash(folder["id"])
    assert trashed["trashed_at"] is not None and trashed["trashed_by"] == drive.account.user_id
    tree = await drive.tree()
    assert [e["id"] for e in tree["entries"]] == []
    assert [e["id"] for e in tree["trash"]] == [folder["id"]]
    # What lies in the trash cannot be changed or used as a destination.
    await drive.refused(409, "in_trash", "PATCH", f"/entries/{inner['id']}", json={"name": "x"})
    await drive.refused(
        409, "in_trash", "POST", "/folders", json={"name": "x", "parent_id": folder["id"]}
    )
    await drive.refused(409, "in_trash", "DELETE", f"/entries/{folder['id']}")
    await drive.refused(409, "not_in_trash", "POST", f"/entries/{inner['id']}/restore")
    # The name is free again while the folder is in the trash ...
    taken = await drive.folder("reports")
    # ... so restoring it is a conflict until the caller gives another name.
    await drive.refused(409, "name_taken", "POST", f"/entries/{folder['id']}/restore")
    restored = await drive.restore(folder["id"], name="reports (old)")
    assert restored["trashed_at"] is None and restored["name"] == "reports (old)"
    assert await drive.names() == ["reports", "reports (old)"]
    assert await drive.names(folder["id"]) == ["q1.txt"]
    assert (await drive.content(inner["id"])).text == "numbers"
    await drive.trash(taken["id"])


async def test_restore_goes_to_the_top_when_its_folder_is_in_the_trash(drive: DriveApi) -> None:
    outer = await drive.folder("outer")
    note = await drive.text_file("note.txt", "n", outer["id"])
    await drive.trash(note["id"])
    await drive.trash(outer["id"])
    restored = await drive.restore(note["id"])
    assert restored["parent_id"] is None
    explicit = await drive.folder("target")
    await drive.trash(restored["id"])
    assert (await drive.restore(note["id"], parent_id=explicit["id"]))["parent_id"] == explicit[
        "id"
    ]


async def test_delete_for_good_removes_bytes_and_document(
    drive: DriveApi, server: TandemProcess, js: YjsClients
) -> None:
    editor = await sign_up(server.http_url)
    await drive.account.add_member(drive.ws, editor, "editor")
    as_editor = DriveApi(editor, drive.ws)
    folder = await drive.folder("doomed")
    blob = (await drive.upload("data.bin", os.urandom(5000), folder["id"])).json()
    text = await drive.text_file("t.md", "text", folder["id"])
    objects = server.data_dir / "objects"
    assert count_files(objects) >= 1
    before = count_files(objects)
    await drive.refused(409, "not_in_trash", "DELETE", f"/trash/{folder['id']}")
    token = {"token": drive.account.token}
    await js.connect("open", server.ws_url, text["doc_id"], params=token)
    await js.wait_text("open", equals="text")
    await as_editor.trash(folder["id"])
    await as_editor.refused(403, "forbidden", "DELETE", f"/trash/{folder['id']}")
    usage = (await drive.tree())["usage_bytes"]
    response = await drive.call("DELETE", f"/trash/{folder['id']}", expect=200)
    assert set(response.json()["deleted"]) == {folder["id"], blob["id"], text["id"]}
    assert count_files(objects) == before - 1
    assert (await drive.tree())["usage_bytes"] == usage - 5000 - 4
    for entry in (folder, blob, text):
        await drive.refused(404, "not_found", "GET", f"/entries/{entry['id']}")
    # Whoever had it open is closed, and nobody can open it again.
    assert (await js.wait_closed("open"))[0]["code"] == 4404
    await drive.account.request("GET", f"/api/docs/{text['doc_id']}", expect=404)
    await js.connect(
        "late", server.ws_url, text["doc_id"], params={"token": drive.account.token}, synced=False
    )
    closes = await js.wait_closed("late")
    assert closes[0]["code"] == 4404


def count_files(folder: os.PathLike[str]) -> int:
    from pathlib import Path

    return sum(1 for p in Path(folder).rglob("*") if p.is_file() and ".incoming" not in p.parts)


async def test_workspace_deletion_removes_its_drive(drive: DriveApi, server: TandemProcess) -> None:
    folder = await drive.folder("all")
    await drive.upload("a.bin", os.urandom(1000), folder["id"])
    text = await drive.text_file("a.txt", "a", folder["id"])
    await drive.trash(folder["id"])
    objects = server.data_dir / "objects" / "drive" / drive.ws
    assert count_files(objects) == 1
    await drive.account.request("DELETE", f"/api/workspaces/{drive.ws}", expect=204)
    assert count_files(objects) == 0
    await drive.account.request("GET", f"/api/docs/{text['doc_id']}", expect=404)


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "a/b", "a\\b", "nul\0byte", "tab\there", "é" * 128, " padded", 42, None],
)
async def test_bad_names_are_refused_and_change_nothing(drive: DriveApi, name: object) -> None:
    existing = await drive.folder("keep")
    before = await drive.tree()
    code = "invalid_name"
    await drive.refused(400, code, "POST", "/folders", json={"name": name})
    await drive.refused(400, code, "POST", "/files", json={"name": name, "text": "x"})
    await drive.refused(400, code, "PATCH", f"/entries/{existing['id']}", json={"name": name})
    if isinstance(name, str) and name:
        await drive.refused(400, code, "POST", "/upload", params={"name": name}, content=b"x")
    after = await drive.tree()
    assert after["entries"] == before["entries"] and after["usage_bytes"] == before["usage_bytes"]


async def test_a_255_byte_name_is_fine(drive: DriveApi) -> None:
    name = "é" * 127 + "x"
    assert len(name.encode()) == 255
    assert (await drive.folder(name))["name"] == name


async def test_duplicates_cycles_and_unknown_ids_are_refused(drive: DriveApi) -> None:
    a = await drive.folder("a")
    b = await drive.folder("b", a["id"])
    c = await drive.folder("c", b["id"])
    file = await drive.text_file("f.txt", "x")
    await drive.text_file("f.txt", "y", a["id"])
    before = await drive.tree()

    await drive.refused(409, "name_taken", "POST", "/folders", json={"name": "a"})
    await drive.refused(409, "name_taken", "POST", "/files", json={"name": "a"})
    await drive.refused(
        409, "name_taken", "POST", "/upload", params={"name": "f.txt"}, content=b"z"
    )
    await drive.refused(409, "name_taken", "PATCH", f"/entries/{file['id']}", json={"name": "a"})
    await drive.refused(
        409, "name_taken", "PATCH", f"/entries/{file['id']}", json={"parent_id": a["id"]}
    )
    await drive.refused(409, "cycle", "PATCH", f"/entries/{a['id']}", json={"parent_id": a["id"]})
    await drive.refused(409, "cycle", "PATCH", f"/entries/{a['id']}", json={"parent_id": c["id"]})
    await drive.refused(
        400, "not_a_folder", "PATCH", f"/entries/{c['id']}", json={"parent_id": file["id"]}
    )
    await drive.refused(
        400, "not_a_folder", "POST", "/folders", json={"name": "n", "parent_id": file["id"]}
    )
    for method, path in [
        ("GET", "/entries/nope"),
        ("PATCH", "/entries/nope"),
        ("DELETE", "/entries/nope"),
        ("POST", "/entries/nope/restore"),
        ("GET", "/entries/nope/content"),
        ("DELETE", "/trash/nope"),
    ]:
        await drive.refused(404, "not_found", method, path, json={"name": "x"})
    await drive.refused(404, "not_found", "GET", "/entries", params={"parent_id": "nope"})
    await drive.refused(
        404, "not_found", "POST", "/folders", json={"name": "x", "parent_id": "nope"}
    )
    await drive.refused(
        404, "not_found", "PATCH", f"/entries/{a['id']}", json={"parent_id": "nope"}
    )
    await drive.refused(400, "missing_field", "PATCH", f"/entries/{a['id']}", json={})
    await drive.refused(
        400, "invalid_field", "POST", "/folders", json={"name": "x", "parent_id": 5}
    )
    await drive.refused(400, "invalid_json", "POST", "/folders", content=b"{nope")
    await drive.refused(400, "missing_field", "POST", "/upload", content=b"x")
    after = await drive.tree()
    assert after["entries"] == before["entries"]


async def test_roles_and_workspaces_are_enforced(drive: DriveApi, server: TandemProcess) -> None:
    viewer = await sign_up(server.http_url)
    stranger = await sign_up(server.http_url)
    await drive.account.add_member(drive.ws, viewer, "viewer")
    folder = await drive.folder("shared")
    file = await drive.text_file("read-me.txt", "hi", folder["id"])
    as_viewer = DriveApi(viewer, drive.ws)
    assert await as_viewer.names() == ["shared"]
    assert (await as_viewer.content(file["id"])).text == "hi"
    for method, path, kwargs in [
        ("POST", "/folders", {"json": {"name": "v"}}),
        ("POST", "/files", {"json": {"name": "v"}}),
        ("POST", "/upload", {"params": {"name": "v"}, "content": b"v"}),
        ("PATCH", f"/entries/{file['id']}", {"json": {"name": "v"}}),
        ("DELETE", f"/entries/{file['id']}", {}),
        ("POST", f"/entries/{file['id']}/restore", {}),
        ("DELETE", f"/trash/{file['id']}", {}),
    ]:
        await as_viewer.refused(403, "forbidden", method, path, **kwargs)
    # A stranger, and a member of another workspace using ids from this one, find nothing.
    as_stranger = DriveApi(stranger, drive.ws)
    await as_stranger.refused(404, "not_found", "GET", "")
    await as_stranger.refused(404, "not_found", "GET", f"/entries/{file['id']}/content")
    other = DriveApi(stranger, await stranger.create_workspace("Other"))
    await other.refused(404, "not_found", "GET", f"/entries/{file['id']}")
    await other.refused(404, "not_found", "GET", f"/entries/{file['id']}/content")
    await other.refused(404, "not_found", "PATCH", f"/entries/{file['id']}", json={"name": "z"})
    await other.refused(
        404, "not_found", "POST", "/folders", json={"name": "z", "parent_id": folder["id"]}
    )
    async with __import__("httpx").AsyncClient(base_url=server.http_url) as client:
        response = await client.get(f"{drive.base}")
    assert response.status_code == 401
    assert await drive.names(folder["id"]) == ["read-me.txt"]


async def test_drive_metrics_are_exported(drive: DriveApi, server: TandemProcess) -> None:
    await drive.folder("counted")
    async with __import__("httpx").AsyncClient(base_url=server.http_url) as client:
        text = (await client.get("/metrics")).text
    assert 'tandem_drive_operations_total{op="create_folder",result="ok"}' in text
    assert "tandem_drive_upload_bytes_total" in text
