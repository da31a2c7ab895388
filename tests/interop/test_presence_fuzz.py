"""Hypothesis-generated awareness states, JSON and near-JSON with non-finite numbers, sent
to a real `tandem serve`: each is either refused (1007) and reaches nobody, or reaches a
stock client exactly as JSON.parse reads it. No client ever throws."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync import strict_json
from sync.protocol import AwarenessMessage, encode, varbytes, varuint
from tests.server_proc import TandemProcess
from tests.sync.test_strict_json import near_json, with_non_finite
from tests.yjs import YjsClients

_rooms = itertools.count(1)
_ids = itertools.count(5000)


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TandemProcess]:
    async with TandemProcess(Path(tmp_path_factory.mktemp("fuzz"))) as proc:
        yield proc


def parses(text: str) -> bool:
    try:
        strict_json.loads(text)
    except strict_json.StrictJsonError:
        return False
    return True


def as_browsers_read(value: Any) -> Any:
    """``value`` with integers as the doubles JSON.parse makes of them."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value) if abs(value) > 2**53 else value
    if isinstance(value, list):
        return [as_browsers_read(v) for v in value]
    if isinstance(value, dict):
        return {k: as_browsers_read(v) for k, v in value.items()}
    return value


async def _send_all(url: str, states: list[str]) -> None:
    room = f"fuzz-{next(_rooms)}"
    async with YjsClients() as js:
        await js.connect("watch", url, room)
        sent: dict[int, str] = {}
        for i, text in enumerate(states):
            client_id = next(_ids)
            name = f"raw{i}"
            await js.raw_socket(name, f"{url}/{room}")
            body = varuint(1) + varuint(client_id) + varuint(1) + varbytes(text.encode())
            await js.raw_send(name, encode(AwarenessMessage(body)))
            if not parses(text):
                assert (await js.raw_wait_close(name))["code"] == 1007, text
            elif json.loads(text) is not None:  # null: the removal of what nobody has
                sent[client_id] = text
        for client_id, text in sent.items():
            seen = await js.wait_awareness("watch", has=client_id)
            assert as_browsers_read(seen[client_id]) == as_browsers_read(json.loads(text)), text
        others = await js.awareness("watch")
        assert set(others) == set(sent), (set(others) - set(sent), states)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(states=st.lists(with_non_finite() | near_json(), min_size=8, max_size=8))
def test_generated_states_are_refused_or_reach_clients_as_browsers_parse_them(
    server: TandemProcess, states: list[str]
) -> None:
    asyncio.run(_send_all(server.ws_url, states))
