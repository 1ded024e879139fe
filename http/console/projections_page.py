"""/admin/projections: each read model's position, lag and state; Rebuild with progress; Verify.

Rebuilds are the API's rebuild jobs (`RebuildJobs`); Verify replays the log into a scratch
copy and compares (`projections/engine/verify.py`), and answers with its findings.
`static/projections.js` drives the buttons and polls a rebuild every second.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from timetracker.http.admin import job_json
from timetracker.http.console.guard import passive
from timetracker.http.console.rendering import page
from timetracker.http.keys import rebuild_jobs_key, settings_key, time_tracking_key
from timetracker.http.responses import json_response
from timetracker.http.threads import in_thread
from timetracker.projections.engine.jobs import RebuildRunningError
from timetracker.projections.engine.status import ProjectionState, projection_status
from timetracker.projections.engine.verify import Verified, verify, verify_redis
from timetracker.projections.registry import all_projections, redis_projections

routes = web.RouteTableDef()
POLL_SECONDS = 1


def _names() -> list[str]:
    return [p.name for p in all_projections()] + [p.name for p in redis_projections()]


def _unknown(name: str) -> web.Response:
    return json_response({"error": f"No read model called {name}."}, status=404)


async def _states(request: web.Request) -> list[ProjectionState]:
    settings = request.config_dict[settings_key]
    states: list[ProjectionState] = await in_thread(
        projection_status,
        request.config_dict[time_tracking_key],
        settings.conninfo,
        settings.redis_url,
        settings.redis_prefix,
    )
    return states


def rebuild_view(job: dict[str, Any]) -> dict[str, Any]:
    """A rebuild job with its percentage."""
    shown = job_json(job)
    total = shown["total"]
    done_share = 1.0 if shown["state"] == "done" else (shown["done"] / total if total else 0.0)
    return {**shown, "percent": round(100 * done_share, 1)}


def _verify(request: web.Request, name: str) -> Verified:
    store = request.config_dict[time_tracking_key]
    settings = request.config_dict[settings_key]
    for projection in all_projections():
        if projection.name == name:
            return verify(store, projection, settings.conninfo)
    for redis_projection in redis_projections():
        if redis_projection.name == name:
            assert settings.redis_url is not None
            return verify_redis(store, redis_projection, settings.redis_url, settings.redis_prefix)
    raise LookupError(name)


@routes.get("/projections", name="projections")
async def show_projections(request: web.Request) -> web.Response:
    states = await _states(request)
    jobs = request.config_dict[rebuild_jobs_key]
    rows = []
    for state in states:
        latest = await in_thread(jobs.latest, state.name)
        rows.append(
            {
                **state.as_dict(),
                "lag_seconds": round(state.lag_seconds, 1),
                "job": None if latest is None else rebuild_view(latest),
            }
        )
    return page(request, "projections.html", {"rows": rows, "poll": POLL_SECONDS})


@routes.post("/projections/{name}/rebuild")
async def rebuild_projection(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _names():
        return _unknown(name)
    try:
        job = await in_thread(request.config_dict[rebuild_jobs_key].start, name)
    except RebuildRunningError as exc:
        return json_response({"error": str(exc)}, status=409)
    return json_response({"job": rebuild_view(job)}, status=202)


@routes.get("/projections/{name}/rebuild.json")
@passive
async def get_rebuild(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _names():
        return _unknown(name)
    job = await in_thread(request.config_dict[rebuild_jobs_key].latest, name)
    return json_response({"job": None if job is None else rebuild_view(job)})


@routes.post("/projections/{name}/verify")
async def verify_projection(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _names():
        return _unknown(name)
    found: Verified = await in_thread(_verify, request, name)
    return json_response(
        {
            "name": found.name,
            "position": found.position,
            "ok": found.ok,
            "checksums": [
                {"part": part, "live": live, "replayed": replayed}
                for part, (live, replayed) in found.checksums.items()
            ],
            "mismatches": found.mismatches,
        }
    )
