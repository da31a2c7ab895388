"""Pods of the minikube overlay as local processes: the stores run with the manifests' own
settings (Valkey with the StatefulSet's arguments and password, S3 with MinIO's credentials),
and each Service address in the rendered environment is rewritten to its local twin."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.cluster.services import free_port, valkey_binary
from tests.deploy.render import Obj, containers, environment, find, one, resolve

STORE_SERVICES = ("redis", "minio", "mongodb")


def service_addresses(objects: list[Obj]) -> set[str]:
    """``name:port`` of every in-cluster store Service (what the settings point at)."""
    return {
        f"{service['metadata']['name']}:{port['port']}"
        for service in find(objects, "Service")
        if service["metadata"]["name"] in STORE_SERVICES
        for port in service["spec"]["ports"]
    }


def rewrite(value: str, twins: dict[str, str]) -> str:
    for address, local in twins.items():
        value = re.sub(rf"(?<![\w.-]){re.escape(address)}(?![\w.-])", local, value)
    return value


def without_credentials(url: str) -> str:
    """The MongoDB test server has no users: same database, no login."""
    parts = urlsplit(url)
    query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("authSource"))
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))


def pod_environment(
    objects: list[Obj], container: Obj, pod_name: str, twins: dict[str, str]
) -> dict[str, str]:
    env = {
        name: rewrite(resolve(objects, value, pod_name), twins)
        for name, value in environment(objects, container).items()
    }
    leftovers = {k: v for k, v in env.items() if any(a in v for a in twins)}
    assert not leftovers, f"service addresses without a local twin: {leftovers}"
    return env


@contextmanager
def redis_from_manifest(objects: list[Obj], data_dir: Path) -> Iterator[int]:
    """valkey-server with the StatefulSet's arguments, on loopback; yields its port."""
    [container] = containers(one(objects, "StatefulSet", "redis"))
    env = {k: resolve(objects, v, "redis-0") for k, v in environment(objects, container).items()}
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]
    assert args[0] == "valkey-server"
    options = args[1:]
    options[options.index("--dir") + 1] = str(data_dir)
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [valkey_binary(), *options, "--port", str(port), "--bind", "127.0.0.1"],
        stdout=(data_dir / "valkey.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


async def wait_redis(url: str, timeout_s: float = 10) -> Redis:
    """A client once the server answers PING (it is starting: nothing to wait on but polls)."""
    client = Redis.from_url(url, socket_timeout=2)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await client.ping()
            return client
        except (RedisConnectionError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"Redis at {url} did not answer: {exc}") from exc
            await asyncio.sleep(0.05)
