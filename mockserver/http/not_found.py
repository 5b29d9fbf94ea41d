"""Requests to no known route: a 404 (or 405) that names the closest real endpoint.

The endpoints are every enabled dialect's routes and the admin API's; a near miss of a
dialect's route is answered in that dialect's envelope.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response

from mockserver.core.errors import MethodNotAllowed, NotFound
from mockserver.dialects.protocol import Dialect, template_regex, template_skeleton
from mockserver.http import provider
from mockserver.http.admin import ADMIN_ENDPOINTS, check_admin
from mockserver.http.provider import mock_of

# (method, template, regex, dialect or None for the admin API)
Endpoint = tuple[str, str, re.Pattern[str], Dialect | None]

# Where people look for an API's documentation. The mock serves no pages, but it publishes
# the contract: point there, not at whichever admin route happens to look alike.
_DOC_PAGES = re.compile(r"/(docs?|redoc|swagger(-ui)?(\.json|\.ya?ml|/.*)?|api-docs|openapi(\.ya?ml)?|help)/?", re.I)
PUBLISHED = (
    "the API is described by GET /openapi.json (OpenAPI 3.1; each dialect's at /openapi/{dialect}.json) "
    "and GET /schemas/ (its JSON Schemas)"
)


def endpoints(dialects: Sequence[Dialect]) -> list[Endpoint]:
    out: list[Endpoint] = [(r.method, r.path, template_regex(r.path), d) for d in dialects for r in d.routes]
    out += [(m, tpl, template_regex(tpl), None) for m, tpl in ADMIN_ENDPOINTS]
    return out


def closest(method: str, path: str, table: Sequence[Endpoint]) -> Endpoint | None:
    """The real endpoint most like ``path``."""
    scored = []
    for i, (m, tpl, _, _) in enumerate(table):
        # Compare against the template without its parameters, so /api/v1/statusTasks/x is
        # close to /api/v1/statusTask/{model}.
        ratio = difflib.SequenceMatcher(None, template_skeleton(tpl), path).ratio()
        scored.append((ratio + (0.05 if m == method else 0), -i))
    if not scored:
        return None
    best, index = max(scored)
    return table[-index] if best > 0.4 else None


async def not_found(request: Request) -> Response:
    mock = mock_of(request)
    path = request.url.path
    if path.startswith("/__admin"):
        check_admin(request, mock)
    table = request.app.state.endpoints
    # The control plane answers in the first dialect's envelope, whichever route looks alike.
    provider_path = not path.startswith(provider.CONTROL_PLANE)
    matching = [e for e in table if e[2].match(path)]
    allowed = sorted({e[0] for e in matching})
    if allowed and request.method not in allowed:
        if matching[0][3] is not None and provider_path:
            request.scope[provider.DIALECT] = matching[0][3]
        raise MethodNotAllowed(
            f"Method {request.method} not allowed on {path}",
            error=f"{path} accepts {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    if request.method in ("GET", "HEAD") and _DOC_PAGES.fullmatch(path):
        raise NotFound(f"No such endpoint: {request.method} {path}", error=f"Unknown route {path}; {PUBLISHED}")
    hint = closest(request.method, path, table)
    if hint is not None and hint[3] is not None and provider_path:
        request.scope[provider.DIALECT] = hint[3]
    suggestion = f"; did you mean {hint[0]} {hint[1]}?" if hint else ""
    raise NotFound(f"No such endpoint: {request.method} {path}", error=f"Unknown route {path}{suggestion}")
