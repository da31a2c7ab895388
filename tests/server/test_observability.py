"""Health, readiness and the tandem_* Prometheus series."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.pyclient import PyClient
from tests.server_proc import TandemProcess

EXPECTED_SERIES = [
    "tandem_open_connections",
    "tandem_connections_total",
    "tandem_rooms",
    'tandem_messages_in_total{type="sync_update"}',
    'tandem_messages_out_total{type="sync_update"}',
    'tandem_bytes_in_total{type="sync_step1"}',
    'tandem_bytes_out_total{type="sync_step2"}',
    "tandem_update_apply_seconds_bucket",
    "tandem_log_appends_total",
    "tandem_log_append_seconds_bucket",
    "tandem_fanout_seconds_bucket",
    "tandem_log_uncompacted_entries",
    "tandem_log_oldest_uncompacted_age_seconds",
    'tandem_closes_total{code="1002"}',
    'tandem_inbound_handled_total{path="callback"}',
    "tandem_event_loop_lag_seconds_count",
]


async def test_metrics_count_real_traffic(tmp_path: Path) -> None:
    async with TandemProcess(tmp_path) as server:
        url = f"{server.ws_url}/observed"
        async with PyClient(url) as a, PyClient(url) as b:
            await a.insert(0, "metered")
            await b.wait_text("metered")
            async with PyClient(url) as bad:
                await bad.send(b"\xff")
                await bad.wait_closed()
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"{server.http_url}/metrics")).text
                health = await http.get(f"{server.http_url}/healthz")
                ready = await http.get(f"{server.http_url}/readyz")
    missing = [name for name in EXPECTED_SERIES if name not in text]
    assert not missing, f"missing series: {missing}"
    assert "tandem_rooms 1.0" in text
    assert "tandem_log_appends_total 1.0" in text
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["ready"] is True
