"""The drive on two cluster-mode pods sharing Redis, S3 and MongoDB (nx-27017): concurrent
moves never build a cycle, one name wins, files and the live tree cross pods."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.accounts import Account, sign_up
from tests.cluster.pods import cluster_env, pod
from tests.cluster.services import S3Server, Valkey
from tests.drive.conftest import JWT_SECRET
from tests.drive.drive_client import DriveApi, TreeWatcher
from tests.mongo import MongoServer
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


@pytest.fixture(scope="module")
async def pods(
    tmp_path_factory: pytest.TempPathFactory,
    drive_valkey: Valkey,
    drive_s3: S3Server,
    mongo_server: MongoServer,
) -> AsyncIterator[list[TandemProcess]]:
    env = cluster_env(
        drive_valkey,
        drive_s3,
        TANDEM_JWT_SECRET=JWT_SECRET,
        TANDEM_MONGODB_URL=mongo_server.url(),
    )
    tmp: Path = tmp_path_factory.mktemp("drive-pods")
    started = list(await asyncio.gather(*(pod(tmp, i, env).start() for i in range(2))))
    try:
        yield started
    finally:
        await asyncio.gather(*(p.kill() for p in started))


@pytest.fixture
async def team(pods: list[TandemProcess]) -> tuple[DriveApi, DriveApi]:
    """One owner, one workspace, seen through pod 0 and pod 1."""
    owner = await sign_up(pods[0].http_url)
    ws = await owner.create_workspace("Pods")
    on_second = Account(pods[1].http_url, owner.user_id, owner.username, owner.token, "")
    return DriveApi(owner, ws), DriveApi(on_second, ws)


def assert_no_cycle(entries: list[dict[str, Any]]) -> None:
    parents = {e["id"]: e["parent_id"] for e in entries}
    for start in parents:
        seen = set()
        node: str | None = start
        while node is not None:
            assert node not in seen, f"cycle through {node}: {parents}"
            seen.add(node)
            node = parents.get(node)


async def all_entries(drive: DriveApi) -> list[dict[str, Any]]:
    tree = await drive.tree()
    return [*tree["entries"], *tree["trash"]]


async def test_crossing_moves_on_two_pods_never_make_a_cycle(
    team: tuple[DriveApi, DriveApi],
) -> None:
    first, second = team
    outcomes: list[tuple[int, int]] = []
    for round_ in range(12):
        a = await first.folder(f"a{round_}")
        b = await first.folder(f"b{round_}")
        deep = await first.folder("deep", b["id"])
        # A into B's subtree on one pod while B goes into A on the other.
        moves = await asyncio.gather(
            first.call("PATCH", f"/entries/{a['id']}", json={"parent_id": deep["id"]}),
            second.call("PATCH", f"/entries/{b['id']}", json={"parent_id": a["id"]}),
        )
        statuses = (moves[0].status_code, moves[1].status_code)
        outcomes.append(statuses)
        assert sorted(statuses) == [200, 409], [m.text for m in moves]
        refused = moves[statuses.index(409)].json()
        assert refused["error"]["code"] == "cycle"
    entries = await all_entries(second)
    assert len(entries) == 36
    assert_no_cycle(entries)
    # Every entry is still reachable from the top: nothing was cut off or lost.
    live = {e["id"] for e in (await first.tree())["entries"]}
    assert live == {e["id"] for e in entries}
    print("crossing move outcomes (pod0, pod1):", outcomes)


async def test_the_same_name_from_two_pods_is_created_once(
    team: tuple[DriveApi, DriveApi],
) -> None:
    first, second = team
    for i in range(8):
        results = await asyncio.gather(
            first.call("POST", "/folders", json={"name": f"same{i}"}),
            second.call("POST", "/folders", json={"name": f"same{i}"}),
        )
        assert sorted(r.status_code for r in results) == [201, 409]
    assert await first.names() == [f"same{i}" for i in range(8)]


async def test_files_and_the_live_tree_cross_pods(
    team: tuple[DriveApi, DriveApi], pods: list[TandemProcess]
) -> None:
    first, second = team
    await second.tree()
    async with TreeWatcher(pods[1].ws_url, first.ws, first.account.token) as view:
        folder = await first.folder("shared")
        await view.wait(lambda e: folder["id"] in e, timeout_s=1.0, what="pod 0's folder on pod 1")
    # 50 MB through S3: streamed in on pod 0, streamed out on pod 1.
    seed = os.urandom(1024 * 1024)
    sent = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for i in range(50):
            chunk = i.to_bytes(4, "big") + seed[4:]
            sent.update(chunk)
            yield chunk

    started = time.monotonic()
    entry = (await first.upload("data.bin", body(), folder["id"])).json()
    uploaded = time.monotonic()
    received = hashlib.sha256()
    async with second.stream(entry["id"]) as response:
        async for chunk in response.aiter_bytes():
            received.update(chunk)
    print(f"50 MB via S3: up {uploaded - started:.2f}s, down {time.monotonic() - uploaded:.2f}s")
    assert entry["size"] == 50 * 1024 * 1024 and received.digest() == sent.digest()
    await second.trash(folder["id"])
    await first.call("DELETE", f"/trash/{folder['id']}", expect=200)
    await second.refused(404, "not_found", "GET", f"/entries/{entry['id']}/content")


async def test_text_uploaded_on_one_pod_edited_on_the_other(
    team: tuple[DriveApi, DriveApi], pods: list[TandemProcess]
) -> None:
    first, _ = team
    entry = (await first.upload("notes.md", b"# Notes\n")).json()
    async with YjsClients() as js:
        await js.connect(
            "b", pods[1].ws_url, entry["doc_id"], params={"token": first.account.token}
        )
        await js.wait_text("b", equals="# Notes\n")
        await js.insert("b", 8, "edited on pod 1\n")

        async def until() -> None:
            while (await first.content(entry["id"])).text != "# Notes\nedited on pod 1\n":
                await asyncio.sleep(0.05)  # polling the HTTP API: no event to wait on

        await asyncio.wait_for(until(), 10)


async def walk(drive: DriveApi, parent: str | None = None) -> list[dict[str, Any]]:
    """Every live entry, folder by folder (a read that does not touch the live tree)."""
    found = []
    for entry in await drive.children(parent):
        found.append(entry)
        if entry["kind"] == "folder":
            found += await walk(drive, entry["id"])
    return found


def live_view(entries: dict[str, Any]) -> set[str]:
    """What a client shows: entries with nothing trashed on their way to the top."""

    def visible(entry_id: str) -> bool:
        seen = set()
        node: str | None = entry_id
        while node is not None:
            if node in seen or node not in entries or entries[node]["trashed_at"] is not None:
                return False
            seen.add(node)
            node = entries[node]["parent_id"]
        return True

    return {entry_id for entry_id in entries if visible(entry_id)}


async def test_random_concurrent_changes_on_two_pods_keep_the_tree_whole(
    team: tuple[DriveApi, DriveApi], pods: list[TandemProcess]
) -> None:
    """Two pods each make a stream of random creates, renames, moves, trashes and restores
    at once. Afterwards: no cycle, every live entry reachable, names unique per folder, and
    the live tree document (watched on pod 1) shows exactly the live entries."""
    first, second = team
    await first.tree()
    async with TreeWatcher(pods[1].ws_url, first.ws, first.account.token) as view:
        folders = [(await first.folder(f"root{i}"))["id"] for i in range(4)]

        async def worker(drive: DriveApi, seed: int) -> list[int]:
            rng = random.Random(seed)
            statuses = []
            for step in range(40):
                target = rng.choice(folders)
                action = rng.random()
                if action < 0.3:
                    response = await drive.call(
                        "POST",
                        "/folders",
                        json={"name": f"f{rng.randrange(6)}", "parent_id": target},
                    )
                    if response.status_code == 201:
                        folders.append(response.json()["id"])
                elif action < 0.65:
                    response = await drive.call(
                        "PATCH",
                        f"/entries/{rng.choice(folders)}",
                        json={"parent_id": rng.choice([None, *folders])},
                    )
                elif action < 0.75:
                    response = await drive.call(
                        "PATCH", f"/entries/{target}", json={"name": f"n{rng.randrange(6)}"}
                    )
                elif action < 0.88:
                    response = await drive.call("DELETE", f"/entries/{target}")
                else:
                    response = await drive.call("POST", f"/entries/{target}/restore", json={})
                statuses.append(response.status_code)
                assert response.status_code in (200, 201, 400, 404, 409), (step, response.text)
            return statuses

        results = await asyncio.gather(worker(first, 1), worker(second, 2))
        changed = sum(status in (200, 201) for statuses in results for status in statuses)
        assert changed > 20, results

        live = await walk(second)
        everything = {e["id"]: e for e in live}
        for trashed in (await first.call("GET", "/trash", expect=200)).json()["entries"]:
            everything[trashed["id"]] = trashed
        assert_no_cycle(live)
        names = [(e["parent_id"], e["name"]) for e in live]
        assert len(names) == len(set(names)), "two live siblings share a name"
        expected = {e["id"] for e in live}
        await view.wait(
            lambda entries: live_view(entries) == expected,
            timeout_s=5.0,
            what="the live tree matching the store",
        )
        for entry_id in expected:
            mirrored = view.entries[entry_id]
            stored = everything[entry_id]
            assert (mirrored["name"], mirrored["parent_id"]) == (
                stored["name"],
                stored["parent_id"],
            )
