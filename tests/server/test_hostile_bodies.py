"""Every JSON route, driven by Hypothesis with hostile bodies (tests/hostile.py) against a real
cluster-mode ``tandem serve`` on Valkey, S3 (SeaweedFS) and MongoDB (nx-27017): each body is
refused with a 4xx JSON error, and nothing stored changes.

The routes come from the app itself, so a new route that takes a body fails here until it has
a template below (or is listed as taking none)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient
from redis.asyncio import Redis
from starlette.routing import Route

from server.app import create_app
from server.settings import Settings
from tests.accounts import PASSWORD, Account, sign_up
from tests.cluster.conftest import s3, valkey  # noqa: F401 - session fixtures
from tests.cluster.pods import BUCKET, cluster_env
from tests.cluster.services import S3Server, Valkey
from tests.hostile import hostile_bodies
from tests.mongo import MongoServer
from tests.server_proc import TandemProcess

pytestmark = pytest.mark.timeout(300)

NOT_JSON = {
    ("POST", "/api/workspaces/{ws}/drive/upload"),  # the raw body is the file
    ("DELETE", "/api/workspaces/{ws}"),
    ("DELETE", "/api/workspaces/{ws}/members/{user_id}"),
    ("DELETE", "/api/workspaces/{ws}/invites/{invite_id}"),
    ("POST", "/api/workspaces/{ws}/docs"),
    ("DELETE", "/api/workspaces/{ws}/drive/entries/{entry_id}"),
    ("DELETE", "/api/workspaces/{ws}/drive/trash/{entry_id}"),
    ("POST", "/api/docs/{doc_id}/history/points"),
    ("POST", "/api/docs/{doc_id}/history/points/{point_id}/restore"),
    ("POST", "/api/workspaces/{ws}/learning/rollback"),
    ("POST", "/api/docs/{doc_id}/suggestions/accept-all"),
    ("DELETE", "/api/docs/{doc_id}/suggestions/{sid}"),
    ("POST", "/api/docs/{doc_id}/suggestions/{sid}/accept"),
    ("POST", "/api/docs/{doc_id}/suggestions/{sid}/reject"),
    ("DELETE", "/api/workspaces/{ws}/threads/{tid}/messages/{mid}"),
    ("POST", "/api/workspaces/{ws}/threads/{tid}/messages/{mid}/stop"),
    ("POST", "/api/workspaces/{ws}/threads/{tid}/messages/{mid}/regenerate"),
    ("POST", "/api/workspaces/{ws}/suggestion-sets/{set_id}/accept"),
}
"""Routes that change something and read no body."""


@dataclass
class World:
    """What the routes act on: each template below is a valid body that would change it."""

    url: str
    owner: Account
    member: Account
    outsider: Account
    ws: str
    folder: str
    file: str
    trashed: str
    doc: str
    invite: str
    thread: str
    message: str
    """The owner's message in ``thread``."""

    def __repr__(self) -> str:  # Hypothesis prints it with every failing example
        return f"World(ws={self.ws!r})"

    def path(self, route: str) -> str:
        entry = self.trashed if route.endswith("/restore") else self.file
        return route.format(
            ws=self.ws,
            user_id=self.member.user_id,
            doc_id=self.doc,
            entry_id=entry,
            tid=self.thread,
            mid=self.message,
        )

    def caller(self, route: str) -> Account | None:
        """Nobody signs in to open a session; the member deletes itself; the owner does the
        rest."""
        if route.startswith("/api/auth/"):
            return None
        return self.member if route == "/api/me" else self.owner


def in_folder(name: str, **more: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"name": name, "parent_id": w.folder, **more}


TEMPLATES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/api/auth/signup"): lambda w: {
        "username": "newcomer",
        "password": PASSWORD,
        "invite": w.invite,
    },
    ("POST", "/api/auth/signin"): lambda w: {"username": w.owner.username, "password": PASSWORD},
    ("POST", "/api/auth/refresh"): lambda w: {"refresh_token": w.member.refresh_token},
    ("POST", "/api/auth/signout"): lambda w: {
        "refresh_token": w.member.refresh_token,
        "everywhere": True,
    },
    ("DELETE", "/api/me"): lambda w: {"password": PASSWORD},
    ("POST", "/api/workspaces"): lambda w: {"name": "Another"},
    ("PATCH", "/api/workspaces/{ws}"): lambda w: {"name": "Renamed", "allow_training": True},
    ("POST", "/api/workspaces/{ws}/members"): lambda w: {
        "username": w.outsider.username,
        "role": "viewer",
    },
    ("PATCH", "/api/workspaces/{ws}/members/{user_id}"): lambda w: {"role": "viewer"},
    ("POST", "/api/workspaces/{ws}/invites"): lambda w: {"role": "editor"},
    ("POST", "/api/workspaces/{ws}/drive/folders"): in_folder("new"),
    ("POST", "/api/workspaces/{ws}/drive/files"): in_folder(
        "new.md", text="hi", content_type="text/plain"
    ),
    ("PATCH", "/api/workspaces/{ws}/drive/entries/{entry_id}"): in_folder("moved.md"),
    ("POST", "/api/workspaces/{ws}/drive/entries/{entry_id}/restore"): in_folder("back"),
    ("PUT", "/api/workspaces/{ws}/assistant"): lambda w: {"instructions": "Be brief."},
    ("POST", "/api/docs/{doc_id}/assist"): lambda w: {
        "mode": "rewrite",
        "instruction": "shorter",
        "language": "en",
        "range": {"start": 0, "end": 5},
    },
    ("POST", "/api/workspaces/{ws}/threads"): lambda w: {
        "title": "Plans",
        "doc_id": w.doc,
        "answer_every": False,
    },
    ("POST", "/api/workspaces/{ws}/threads/{tid}/messages"): lambda w: {
        "text": "what next?",
        "ask": False,
        "selection": {"start": 0, "end": 5},
    },
    ("PATCH", "/api/workspaces/{ws}/threads/{tid}/messages/{mid}"): lambda w: {"text": "edited"},
    ("POST", "/api/workspaces/{ws}/threads/{tid}/messages/{mid}/apply"): lambda w: {
        "blocks": [0],
        "all": False,
    },
    ("PUT", "/api/workspaces/{ws}/threads/{tid}/messages/{mid}/feedback"): lambda w: {
        "value": "up"
    },
    ("PUT", "/api/workspaces/{ws}/threads/{tid}/messages/{mid}/preferred"): lambda w: {
        "value": True
    },
}
"""Each route's valid body, one that would change what is stored (at ``World.path``)."""


def changing_routes() -> set[tuple[str, str]]:
    found = set()
    for route in create_app(Settings()).app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            found |= {(m, route.path) for m in (route.methods or set()) - {"GET", "HEAD"}}
    return found


JSON_ROUTES = sorted(changing_routes() - NOT_JSON)


def test_every_route_that_changes_something_is_driven_here_or_reads_no_body() -> None:
    assert set(TEMPLATES) == set(JSON_ROUTES)
    assert len(JSON_ROUTES) >= 16


# -- the server and what it stores --------------------------------------------------------------


@dataclass
class Services:
    valkey: Valkey
    s3: S3Server
    mongo_url: str


@pytest.fixture(scope="module")
def services(
    valkey: Valkey,  # noqa: F811
    s3: S3Server,  # noqa: F811
    mongo_server: MongoServer,
) -> Services:
    return Services(valkey, s3, mongo_server.url())


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, services: Services
) -> AsyncIterator[TandemProcess]:
    env = cluster_env(
        services.valkey,
        services.s3,
        TANDEM_MONGODB_URL=services.mongo_url,
        TANDEM_OPEN_ACCESS="false",
    )
    async with TandemProcess(tmp_path_factory.mktemp("hostile"), env=env) as proc:
        yield proc


@pytest.fixture(scope="module")
async def world(server: TandemProcess) -> World:
    url = server.http_url
    owner, member, outsider = [await sign_up(url) for _ in range(3)]
    ws = await owner.create_workspace("Hostile")
    await owner.add_member(ws, member, "editor")
    drive = f"/api/workspaces/{ws}/drive"

    async def entry(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict((await owner.request("POST", drive + path, json=body, expect=201)).json())

    folder = await entry("/folders", {"name": "folder"})
    file = await entry("/files", {"name": "notes.md", "text": "Hello hostile world"})
    trashed = await entry("/folders", {"name": "trashed"})
    await owner.request("DELETE", f"{drive}/entries/{trashed['id']}", expect=200)
    invite = await owner.request(
        "POST", f"/api/workspaces/{ws}/invites", json={"role": "viewer"}, expect=201
    )
    await owner.request(
        "PUT", f"/api/workspaces/{ws}/assistant", json={"instructions": "Be kind."}, expect=200
    )
    # Reading the history writes its pending sessions: nothing is left to write later.
    await owner.request("GET", f"/api/docs/{file['doc_id']}/history", expect=200)
    threads = f"/api/workspaces/{ws}/threads"
    thread = (await owner.request("POST", threads, json={"title": "T"}, expect=201)).json()
    message = await owner.request(
        "POST", f"{threads}/{thread['id']}/messages", json={"text": "hello"}, expect=201
    )
    return World(
        url,
        owner,
        member,
        outsider,
        ws,
        folder["id"],
        file["id"],
        trashed["id"],
        file["doc_id"],
        invite.json()["invite"],
        thread["id"],
        message.json()["message"]["id"],
    )


class StoredState:
    """Everything the routes store: every MongoDB collection but the search index, every S3
    object and Redis key but the documents' own (compaction rewrites those by itself), and the
    text file's text.
    ``changes`` compares with the state it saw last, so each example answers for itself."""

    def __init__(self, services: Services, world: World) -> None:
        self.s3 = services.s3
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(services.mongo_url)
        self.redis = Redis.from_url(services.valkey.url, socket_timeout=5)
        self.world = world
        self.last: dict[str, Any] | None = None

    async def read(self) -> dict[str, Any]:
        parts = await asyncio.gather(
            self._mongo(), self._redis(), asyncio.to_thread(self._s3), self._text()
        )
        return {key: value for part in parts for key, value in part.items()}

    async def _mongo(self) -> dict[str, Any]:
        db = self.mongo.get_default_database()

        async def collection(name: str) -> list[str]:
            found = [json.dumps(d, default=str, sort_keys=True) async for d in db[name].find()]
            return sorted(found)

        # The search index is derived from the files' text, which is compared itself; the
        # index follows the setup's writes a moment later, whatever the example sends.
        names = [n for n in await db.list_collection_names() if not n.startswith("knowledge_")]
        found = await asyncio.gather(*(collection(name) for name in names))
        return {f"mongo:{name}": docs for name, docs in zip(names, found, strict=True)}

    async def _redis(self) -> dict[str, Any]:
        keys = [k async for k in self.redis.scan_iter() if not k.startswith(b"tandem:doc:")]
        values = await asyncio.gather(*(self.redis.dump(key) for key in keys))
        return {f"redis:{key.decode()}": value for key, value in zip(keys, values, strict=True)}

    def _s3(self) -> dict[str, Any]:
        objects = self.s3.client().list_objects(BUCKET, recursive=True)
        return {
            f"s3:{o.object_name}": o.etag for o in objects if not o.object_name.startswith("docs/")
        }

    async def _text(self) -> dict[str, Any]:
        w = self.world
        path = f"/api/workspaces/{w.ws}/drive/entries/{w.file}/content"
        return {"text": (await w.owner.request("GET", path, expect=200)).text}

    async def changes(self) -> dict[str, Any]:
        """What differs since the last call. A Redis key gone is no change: the attempt
        counters expire by themselves."""
        now = await self.read()
        before, self.last = self.last, now
        if before is None:
            return {}
        changed = {
            key: (before.get(key), value) for key, value in now.items() if before.get(key) != value
        }
        gone = {key: (before[key], None) for key in before.keys() - now.keys()}
        return changed | {
            key: change for key, change in gone.items() if not key.startswith("redis:")
        }

    async def aclose(self) -> None:
        await self.mongo.close()
        await self.redis.aclose()


@pytest.fixture(scope="module")
async def stored(services: Services, world: World) -> AsyncIterator[StoredState]:
    state = StoredState(services, world)
    await state.changes()
    yield state
    await state.aclose()


# -- hostile bodies ------------------------------------------------------------------------------


async def send(world: World, route: tuple[str, str], body: bytes) -> httpx.Response:
    method, template = route
    caller = world.caller(template)
    headers = {"content-type": "application/json", **(caller.headers if caller else {})}
    async with httpx.AsyncClient(base_url=world.url, timeout=30.0) as http:
        return await http.request(method, world.path(template), content=body, headers=headers)


ISSUE_CASES = {
    "deep nesting": lambda field: b'{"%s": %s}' % (field, b"[" * 300_000 + b"]" * 300_000),
    "a 5000-digit integer": lambda field: b'{"%s": %s}' % (field, b"9" * 5000),
    "a lone surrogate": lambda field: b'{"%s": "a\\ud800"}' % field,
}
ISSUE_ROUTES = {
    "sign-up": (("POST", "/api/auth/signup"), b"username"),
    "folder name": (("POST", "/api/workspaces/{ws}/drive/folders"), b"name"),
    "text file content": (("POST", "/api/workspaces/{ws}/drive/files"), b"text"),
    "assistant instructions": (("PUT", "/api/workspaces/{ws}/assistant"), b"instructions"),
}


@pytest.mark.parametrize("where", list(ISSUE_ROUTES))
@pytest.mark.parametrize("case", list(ISSUE_CASES))
async def test_the_bodies_of_issue_23_are_400_invalid_json(
    world: World, stored: StoredState, where: str, case: str
) -> None:
    route, field = ISSUE_ROUTES[where]
    response = await send(world, route, ISSUE_CASES[case](field))
    assert response.status_code == 400, response.text[:500]
    assert response.json()["error"]["code"] == "invalid_json"
    assert await stored.changes() == {}


@pytest.mark.parametrize("route", JSON_ROUTES, ids=[f"{m} {p}" for m, p in JSON_ROUTES])
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_a_hostile_body_is_a_4xx_json_error_and_changes_nothing(
    route: tuple[str, str], world: World, stored: StoredState, data: st.DataObject
) -> None:
    body = data.draw(hostile_bodies(TEMPLATES[route](world)), label="body")
    response = await send(world, route, body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    assert await stored.changes() == {}
