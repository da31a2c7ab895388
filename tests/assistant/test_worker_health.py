"""The worker's /healthz and /metrics, served on its own event loop."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from assistant import metrics as assistant_metrics
from server.assistant.worker_health import HealthServer


async def test_healthz_follows_the_worker_loops_and_metrics_are_served() -> None:
    loops_running = True
    health = HealthServer("127.0.0.1", 0, lambda: loops_running)
    task = asyncio.create_task(health.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health.port}") as http:
            ok = await http.get("/healthz")
            assert (ok.status_code, ok.json()) == (200, {"status": "ok"})
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assistant_metrics.QUEUE_DEPTH.set(3)
            assert "tandem_assistant_queue_depth 3.0" in (await http.get("/metrics")).text
            loops_running = False
            assert (await http.get("/healthz")).status_code == 503
    finally:
        health.stop()
        await asyncio.wait_for(task, 5)


async def test_a_busy_port_is_refused_at_once() -> None:
    first = HealthServer("127.0.0.1", 0, lambda: True)
    try:
        with pytest.raises(OSError):
            HealthServer("127.0.0.1", first.port, lambda: True)
    finally:
        first.socket.close()
