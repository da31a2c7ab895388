"""``/healthz`` (alive), ``/readyz`` (backing services reachable, not draining), ``/metrics``."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .context import AppContext

_CHECK_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    problems: dict[str, str] = {}
    if ctx.draining:
        problems["server"] = "draining"
    for name, check in ctx.readiness_checks.items():
        try:
            problem = await asyncio.wait_for(check(), _CHECK_TIMEOUT_S)
        except TimeoutError:
            problem = "timed out"
        except Exception as exc:  # noqa: BLE001 - a failed probe is a finding, not a crash
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            problems[name] = problem
    status = 503 if problems else 200
    return JSONResponse({"ready": not problems, "problems": problems}, status_code=status)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
