"""A real ``tandem serve`` (embedded), and two cluster pods over Valkey, S3 and the MongoDB
wire protocol, for the search route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.cluster.services import S3Server, Valkey, running
from tests.mongo import MongoServer, running_mongo
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

QUICK = {"TANDEM_SIGNIN_ATTEMPTS_PER_MIN": "1000", "TANDEM_LOG_LEVEL": "info"}


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TandemProcess]:
    async with TandemProcess(tmp_path_factory.mktemp("search"), env=QUICK) as proc:
        yield proc


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    base = tmp_path_factory.mktemp("search-services")
    with (
        running(Valkey(base / "valkey")) as valkey,
        running(S3Server(base / "s3")) as s3,
        running_mongo(base / "mongo") as mongo,
    ):
        assert isinstance(valkey, Valkey) and isinstance(s3, S3Server)
        assert isinstance(mongo, MongoServer)
        yield {
            **QUICK,
            "TANDEM_REDIS_URL": valkey.url,
            "TANDEM_S3_ENDPOINT": s3.endpoint,
            "TANDEM_S3_ACCESS_KEY": s3.access_key,
            "TANDEM_S3_SECRET_KEY": s3.secret_key,
            "TANDEM_S3_BUCKET": "tandem-search",
            "TANDEM_MONGODB_URL": mongo.url("tandem"),
            "TANDEM_JWT_SECRET": "search-cluster-secret-0123456789-abcdefghijklmn",
        }


@pytest.fixture(scope="module")
async def pods(
    tmp_path_factory: pytest.TempPathFactory, cluster_env: dict[str, str]
) -> AsyncIterator[list[TandemProcess]]:
    base = tmp_path_factory.mktemp("search-pods")
    started = [
        await TandemProcess(
            base / f"pod-{i}", env={**cluster_env, "TANDEM_POD_ID": f"pod-{i}"}
        ).start()
        for i in range(2)
    ]
    try:
        yield started
    finally:
        for pod in started:
            await pod.kill()


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients
