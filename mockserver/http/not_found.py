"""Requests to no known route: a 404 (or 405) that names the closest real endpoint."""

from __future__ import annotations

import difflib
import re

from starlette.requests import Request
from starlette.responses import Response

from mockserver.core.errors import MethodNotAllowed, NotFound
from mockserver.dialects import apixo
from mockserver.http.admin import ADMIN_ENDPOINTS, check_admin
from mockserver.http.provider import mock_of

_PARAM = re.compile(r"\{[^}]+\}")


def _pattern(template: str) -> re.Pattern[str]:
    parts = _PARAM.split(template)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")


_ENDPOINTS = [(m, tpl, _pattern(tpl)) for m, tpl in (*apixo.ENDPOINTS, *ADMIN_ENDPOINTS)]


def closest(method: str, path: str) -> tuple[str, str] | None:
    """The (method, template) of the real endpoint most like ``path``."""
    scored = []
    for m, tpl, _ in _ENDPOINTS:
        # Compare against the template with its parameters filled from the path's own
        # segments, so /api/v1/statusTasks/x is close to /api/v1/statusTask/{model}.
        ratio = difflib.SequenceMatcher(None, _PARAM.sub("", tpl), path).ratio()
        scored.append((ratio + (0.05 if m == method else 0), m, tpl))
    scored.sort(reverse=True)
    return (scored[0][1], scored[0][2]) if scored and scored[0][0] > 0.4 else None


async def not_found(request: Request) -> Response:
    path = request.url.path
    if path.startswith("/__admin"):
        check_admin(request, mock_of(request))
    allowed = sorted({m for m, _, rx in _ENDPOINTS if rx.match(path)})
    if allowed and request.method not in allowed:
        raise MethodNotAllowed(
            f"Method {request.method} not allowed on {path}",
            error=f"{path} accepts {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    hint = closest(request.method, path)
    suggestion = f"; did you mean {hint[0]} {hint[1]}?" if hint else ""
    raise NotFound(f"No such endpoint: {request.method} {path}", error=f"Unknown route {path}{suggestion}")
