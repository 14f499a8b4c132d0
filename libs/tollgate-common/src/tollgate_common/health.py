"""`/health/live` and `/health/ready` for a service, given the named checks readiness needs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litestar import Litestar, Request, Response, Router, get

from tollgate_common.problems import problem

ReadinessCheck = Callable[[Litestar], Awaitable[None]]
"""Raises (with a readable message) when the service cannot serve yet."""


def health_router(checks: Mapping[str, ReadinessCheck], *, timeout: float = 3.0) -> Router:
    @get("/live", summary="The process is up", cache=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready", summary="The service can serve: each dependency answered", cache=False)
    async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(request.app), timeout)
                results[name] = "ok"
            except Exception as exc:  # a readiness check reports, it never raises
                results[name] = str(exc) or type(exc).__name__
        failed = {k: v for k, v in results.items() if v != "ok"}
        if failed:
            detail = "Not ready: " + "; ".join(f"{k}: {v}" for k, v in failed.items())
            return problem(503, detail, extra={"checks": results})
        return Response({"status": "ok", "checks": results})

    return Router(path="/health", route_handlers=[live, ready], tags=["health"])
