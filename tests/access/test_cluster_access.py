"""Accounts in cluster mode: pods share users, sessions and sign-in throttling through
MongoDB and Redis, so a client may sign in on one pod and edit through another."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.accounts import PASSWORD, sign_up, unique_username
from tests.cluster.conftest import s3, valkey  # noqa: F401 - session fixtures
from tests.cluster.pods import cluster_env, pod
from tests.cluster.services import S3Server, Valkey
from tests.mongo import MongoServer
from tests.yjs import YjsClients


async def test_pods_share_accounts_sessions_and_throttling(
    tmp_path: Path,
    valkey: Valkey,  # noqa: F811
    s3: S3Server,  # noqa: F811
    mongo_server: MongoServer,
    js: YjsClients,
) -> None:
    env = cluster_env(
        valkey,
        s3,
        TANDEM_MONGODB_URL=mongo_server.url(),
        TANDEM_SIGNIN_ATTEMPTS_PER_MIN="4",
        TANDEM_REFRESH_REUSE_GRACE_S="0",  # strictly once, across pods
    )
    a = await pod(tmp_path, 0, env).start()
    b = await pod(tmp_path, 1, env).start()
    try:
        alice = await sign_up(a.http_url)
        ws = await alice.create_workspace()
        doc = await alice.create_doc(ws)
        bob = await sign_up(b.http_url)
        await alice.add_member(ws, bob, "editor")

        await js.connect("alice", a.ws_url, doc, params={"token": alice.token})
        await js.connect("bob", b.ws_url, doc, params={"token": bob.token})
        await js.insert("bob", 0, "from pod b")
        await js.wait_text("alice", equals="from pod b")

        # A refresh token issued by pod A works once, on pod B.
        async with httpx.AsyncClient() as http:
            body = {"refresh_token": alice.refresh_token}
            assert (await http.post(f"{b.http_url}/api/auth/refresh", json=body)).status_code == 200
            assert (await http.post(f"{a.http_url}/api/auth/refresh", json=body)).status_code == 401

            # Failed sign-ins count across pods.
            target = {"username": bob.username, "password": "wrong-password"}
            statuses = [
                (await http.post(f"{pod_.http_url}/api/auth/signin", json=target)).status_code
                for pod_ in (a, b, a, b, a)
            ]
            assert statuses == [401, 401, 401, 401, 429]
            fresh = unique_username("zed")
            await sign_up(a.http_url, fresh)
            ok = await http.post(
                f"{b.http_url}/api/auth/signin", json={"username": fresh, "password": PASSWORD}
            )
            # The address's budget is spent too, on every pod: guessing many names is throttled.
            assert ok.status_code == 429
    finally:
        await a.kill()
        await b.kill()
