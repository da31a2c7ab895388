"""``/healthz`` (alive), ``/readyz`` (backing services reachable, not draining), ``/metrics``."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .context import AppContext

_CHECK_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    problems = await _run(ctx.readiness_checks)
    if ctx.draining:
        problems["server"] = "draining"
    degraded = await _run(ctx.degradations)
    status = 503 if problems else 200
    body = {"ready": not problems, "problems": problems, "degraded": degraded}
    return JSONResponse(body, status_code=status)


async def _run(checks: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, check in checks.items():
        try:
            problem = await asyncio.wait_for(check(), _CHECK_TIMEOUT_S)
        except TimeoutError:
            problem = "timed out"
        except Exception as exc:  # noqa: BLE001 - a failed probe is a finding, not a crash
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            found[name] = problem
    return found


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
