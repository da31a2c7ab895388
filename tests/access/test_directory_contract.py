"""One contract, two directories: SQLite (embedded) and MongoDB (cluster, against the
nx-27017 wire-protocol server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from server.access.directory import Directory
from server.access.errors import ConflictError
from server.access.models import InviteRecord, UserId, WorkspaceId
from server.access.mongo_directory import MongoDirectory
from server.access.roles import Role
from server.access.sqlite_directory import SqliteDirectory
from tests.mongo import MongoServer


@pytest.fixture(params=["sqlite", "mongo"])
async def directory(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_server: MongoServer
) -> AsyncIterator[Directory]:
    if request.param == "sqlite":
        async with SqliteDirectory(tmp_path / "accounts.db") as sqlite:
            yield sqlite
        return
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_server.url())
    mongo = MongoDirectory(client.get_default_database())
    await mongo.ensure_indexes()
    try:
        yield mongo
    finally:
        await client.close()


async def test_usernames_are_unique_regardless_of_case(directory: Directory) -> None:
    ada = await directory.create_user("Ada", "hash-1")
    with pytest.raises(ConflictError):
        await directory.create_user("ada", "hash-2")
    found = await directory.credentials("ADA")
    assert found is not None and found.user == ada and found.password_hash == "hash-1"
    assert await directory.user(ada.id) == ada
    assert await directory.credentials("nobody") is None


async def test_concurrent_sign_ups_for_one_name_create_one_user(directory: Directory) -> None:
    results = await asyncio.gather(
        *(directory.create_user("grace", f"h{i}") for i in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ConflictError) for r in results if isinstance(r, BaseException))


async def test_workspace_starts_with_its_creator_as_owner(directory: Directory) -> None:
    owner = await directory.create_user("owner", "h")
    workspace = await directory.create_workspace("Team", owner.id)
    assert await directory.role(workspace.id, owner.id) is Role.OWNER
    assert [(w.name, r) for w, r in await directory.workspaces_of(owner.id)] == [
        ("Team", Role.OWNER)
    ]
    renamed = await directory.update_workspace(workspace.id, name="Crew", allow_training=False)
    assert renamed.name == "Crew" and renamed.allow_training is False
    assert await directory.workspace(workspace.id) == renamed


async def test_members_roles_and_removal(directory: Directory) -> None:
    owner = await directory.create_user("owner", "h")
    bob = await directory.create_user("bob", "h")
    workspace = await directory.create_workspace("Team", owner.id)
    await directory.set_member(workspace.id, bob.id, Role.VIEWER)
    await directory.set_member(workspace.id, bob.id, Role.EDITOR)
    assert await directory.role(workspace.id, bob.id) is Role.EDITOR
    members = {m.user.username: m.role for m in await directory.members(workspace.id)}
    assert members == {"bob": Role.EDITOR, "owner": Role.OWNER}
    assert await directory.remove_member(workspace.id, bob.id) is True
    assert await directory.remove_member(workspace.id, bob.id) is False
    assert await directory.role(workspace.id, bob.id) is None
    assert await directory.workspaces_of(bob.id) == []


async def test_documents_belong_to_one_workspace(directory: Directory) -> None:
    owner = await directory.create_user("owner", "h")
    one = await directory.create_workspace("One", owner.id)
    two = await directory.create_workspace("Two", owner.id)
    record = await directory.register_doc("doc-1", one.id)
    assert await directory.register_doc("doc-1", one.id) == record  # idempotent
    with pytest.raises(ConflictError):
        await directory.register_doc("doc-1", two.id)
    tree = await directory.register_doc("tree:x", one.id, server_only=True)
    assert (await directory.doc("tree:x")) == tree and tree.server_only
    await directory.unregister_doc("doc-1")
    assert await directory.doc("doc-1") is None


async def test_deleting_a_workspace_removes_members_and_documents(directory: Directory) -> None:
    owner = await directory.create_user("owner", "h")
    workspace = await directory.create_workspace("Team", owner.id)
    await directory.register_doc("doc-2", workspace.id)
    await directory.delete_workspace(workspace.id)
    await directory.delete_workspace(workspace.id)  # idempotent
    assert await directory.workspace(workspace.id) is None
    assert await directory.role(workspace.id, owner.id) is None
    assert await directory.doc("doc-2") is None
    assert await directory.workspaces_of(owner.id) == []


async def test_refresh_tokens_are_single_use_and_revocable(directory: Directory) -> None:
    user = await directory.create_user("rita", "h")
    now = time.time()
    await directory.store_refresh("t1", user.id, now + 60)
    await directory.store_refresh("t2", user.id, now + 60)
    await directory.store_refresh("t3", user.id, now - 1)
    assert await directory.take_refresh("t1", now) == user.id
    assert await directory.take_refresh("t1", now) is None  # used already
    assert await directory.take_refresh("t3", now) is None  # expired
    await directory.revoke_all_refresh(user.id)
    assert await directory.take_refresh("t2", now) is None


async def test_a_used_refresh_token_lasts_the_grace_and_no_longer(directory: Directory) -> None:
    user = await directory.create_user("gina", "h")
    now = time.time()
    await directory.store_refresh("g1", user.id, now + 3600)
    assert await directory.take_refresh("g1", now, grace_s=30) == user.id
    # The reload racing the rotation presents it again: still inside the window.
    assert await directory.take_refresh("g1", now + 10, grace_s=30) == user.id
    # Reuse does not stretch the window, and past it the token is spent.
    assert await directory.take_refresh("g1", now + 29, grace_s=30) == user.id
    assert await directory.take_refresh("g1", now + 31, grace_s=30) is None
    # The window never outlasts the token itself.
    await directory.store_refresh("g2", user.id, now + 5)
    assert await directory.take_refresh("g2", now, grace_s=30) == user.id
    assert await directory.take_refresh("g2", now + 6, grace_s=30) is None


async def test_deleting_a_user_removes_the_account_memberships_and_sessions(
    directory: Directory,
) -> None:
    owner = await directory.create_user("olga", "h")
    gone = await directory.create_user("gus", "h")
    workspace = await directory.create_workspace("Team", owner.id)
    await directory.set_member(workspace.id, gone.id, Role.EDITOR)
    await directory.store_refresh("g1", gone.id, time.time() + 60)
    await directory.delete_user(gone.id)
    await directory.delete_user(gone.id)  # idempotent
    assert await directory.user(gone.id) is None
    assert await directory.credentials("gus") is None
    assert await directory.role(workspace.id, gone.id) is None
    assert await directory.workspaces_of(gone.id) == []
    assert await directory.take_refresh("g1", time.time()) is None
    assert [m.user.id for m in await directory.members(workspace.id)] == [owner.id]
    assert (await directory.create_user("gus", "h2")).id != gone.id  # the name is free again


async def test_invites_are_kept_listed_and_revoked(directory: Directory) -> None:
    owner = await directory.create_user("ivy", "h")
    workspace = await directory.create_workspace("Team", owner.id)
    other = await directory.create_workspace("Other", owner.id)
    now = time.time()
    first = InviteRecord("i1", workspace.id, "viewer", owner.id, now, now + 60)
    second = InviteRecord("i2", workspace.id, "editor", owner.id, now + 1, now + 60)
    for invite in (second, first):
        await directory.store_invite(invite)
    assert await directory.invites(workspace.id) == [first, second]
    assert await directory.invite("i2") == second
    assert not await directory.revoke_invite(other.id, "i1")  # not that workspace's
    assert await directory.revoke_invite(workspace.id, "i1")
    assert not await directory.revoke_invite(workspace.id, "i1")
    assert await directory.invite("i1") is None
    await directory.delete_workspace(workspace.id)
    assert await directory.invite("i2") is None


async def test_unknown_ids_answer_none(directory: Directory) -> None:
    assert await directory.user(UserId("nope")) is None
    assert await directory.workspace(WorkspaceId("nope")) is None
    assert await directory.role(WorkspaceId("nope"), UserId("nope")) is None
    assert await directory.members(WorkspaceId("nope")) == []
