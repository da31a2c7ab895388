"""Upload limits and the workspace quota against a real server with small limits: every
refusal is a 413 with a clear code and leaves neither an entry nor stored bytes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.accounts import sign_up
from tests.drive.conftest import JWT_SECRET
from tests.drive.drive_client import DriveApi
from tests.server_proc import TandemProcess

MAX_UPLOAD = 10_000
QUOTA = 25_000
MAX_TEXT = 100


@pytest.fixture(scope="module")
async def small(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TandemProcess]:
    env = {
        "TANDEM_JWT_SECRET": JWT_SECRET,
        "TANDEM_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "TANDEM_WORKSPACE_QUOTA_BYTES": str(QUOTA),
        "TANDEM_MAX_TEXT_FILE_BYTES": str(MAX_TEXT),
    }
    async with TandemProcess(tmp_path_factory.mktemp("drive-small"), env=env) as proc:
        yield proc


@pytest.fixture
async def limited(small: TandemProcess) -> DriveApi:
    account = await sign_up(small.http_url)
    return DriveApi(account, await account.create_workspace("Small"))


async def chunked(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    """A body without Content-Length: the server only learns the size by reading."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def stored_files(server: TandemProcess) -> list[Path]:
    return [p for p in (server.data_dir / "objects").rglob("*") if p.is_file()]


async def usage(drive: DriveApi) -> int:
    return int((await drive.tree())["usage_bytes"])


async def test_uploads_over_the_limit_are_refused_whole(
    limited: DriveApi, small: TandemProcess
) -> None:
    before = stored_files(small)
    for body in (os.urandom(MAX_UPLOAD + 1), chunked(os.urandom(MAX_UPLOAD + 1))):
        response = await limited.upload("big.bin", body, expect=413)
        assert response.json()["error"]["code"] == "too_large"
    assert stored_files(small) == before
    assert await limited.names() == [] and await usage(limited) == 0
    ok = (await limited.upload("fits.bin", chunked(os.urandom(MAX_UPLOAD)))).json()
    assert ok["size"] == MAX_UPLOAD


async def test_the_quota_counts_every_file_until_deleted_for_good(
    limited: DriveApi, small: TandemProcess
) -> None:
    first = (await limited.upload("1.bin", os.urandom(10_000))).json()
    await limited.upload("2.bin", chunked(os.urandom(10_000)))
    before = stored_files(small)
    for body in (os.urandom(6_000), chunked(os.urandom(6_000))):
        response = await limited.upload("3.bin", body, expect=413)
        assert response.json()["error"]["code"] == "quota_exceeded"
    assert stored_files(small) == before
    await limited.upload("3.bin", os.urandom(5_000))
    assert await usage(limited) == QUOTA
    await limited.refused(413, "quota_exceeded", "POST", "/files", json={"name": "t", "text": "x"})
    # The trash keeps the bytes, so it keeps them in the quota; deleting for good frees them.
    await limited.trash(first["id"])
    assert await usage(limited) == QUOTA
    await limited.call("DELETE", f"/trash/{first['id']}", expect=200)
    assert await usage(limited) == QUOTA - 10_000
    await limited.upload("4.bin", os.urandom(10_000))


async def test_concurrent_uploads_cannot_pass_the_quota_together(
    limited: DriveApi, small: TandemProcess
) -> None:
    results = await asyncio.gather(
        *(limited.upload(f"{i}.bin", os.urandom(9_000), expect=None) for i in range(3))
    )
    assert sorted(r.status_code for r in results) == [201, 201, 413]
    assert await usage(limited) == 18_000
    assert len(await limited.names()) == 2
    assert len([p for p in stored_files(small) if limited.ws in p.parts]) == 2
    assert not list((small.data_dir / "objects" / ".incoming").iterdir())


async def test_text_files_over_the_text_limit(limited: DriveApi) -> None:
    long_text = "x" * (MAX_TEXT + 1)
    await limited.refused(413, "too_large", "POST", "/files", json={"name": "t", "text": long_text})
    stored = (await limited.upload("long.txt", long_text.encode())).json()
    assert stored["kind"] == "binary" and stored["doc_id"] is None
    assert stored["content_type"] == "text/plain"
    assert (await limited.content(stored["id"])).text == long_text
    short = (await limited.upload("short.txt", b"x" * MAX_TEXT)).json()
    assert short["kind"] == "text"


async def test_a_refused_upload_leaves_no_bytes_behind(
    limited: DriveApi, small: TandemProcess
) -> None:
    await limited.upload("taken.bin", os.urandom(100))
    before = stored_files(small)
    response = await limited.upload("taken.bin", os.urandom(200), expect=409)
    assert response.json()["error"]["code"] == "name_taken"
    gone = await limited.folder("gone")
    await limited.trash(gone["id"])
    response = await limited.upload("x.bin", os.urandom(200), gone["id"], expect=409)
    assert response.json()["error"]["code"] == "in_trash"
    assert stored_files(small) == before
