"""Whole HTTP answers against the contract: which dialect's route a path is, which schema that
dialect says the answer must match, the body against it, and the dialect's rules on the answer
(its status, its headers). Result files are checked by their own bytes.

Provider-neutral: a path is classified by the built-in dialects' own routes, and every
provider-specific rule is asked of the dialect that owns the route.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from mockserver.contract.schemas import Problem, Schemas, validate
from mockserver.core.media import CONTENT_TYPES
from mockserver.core.words import FILES
from mockserver.dialects import builtin
from mockserver.dialects.protocol import Dialect, Route, RouteTable

__all__ = [
    "check_httpx_response",
    "check_response",
    "check_result_file",
    "describe",
    "endpoint_of",
    "response_schema",
]

_JSON = "application/json"
# Where a scenario may put a 429's retry hint (its ``retry_hint``): the header, the body, both, neither.
RETRY_HINTS = ("both", "header", "body", "none")


class _Owner(NamedTuple):
    dialect: Dialect
    route: Route


@functools.cache
def _route_table() -> RouteTable:
    """Every built-in dialect's routes, in the order the dialects are listed (built once)."""
    return RouteTable(list(builtin().values()))


def _owner_of(path: str) -> _Owner | None:
    """The built-in dialect and route a provider path belongs to (the first that matches), else None."""
    found = _route_table().match(path)
    return _Owner(found[1], found[0]) if found is not None else None


def _expected(method: str, path: str) -> tuple[Dialect, str | None]:
    """The dialect that answers for ``path`` and the endpoint kind ``method path`` is.

    A path of no dialect (the admin API, a typo) is the first built-in dialect's, with no kind:
    only its error answers have a contract.
    """
    owner = _owner_of(path)
    if owner is None:
        return next(iter(builtin().values())), None
    return owner.dialect, owner.route.kind if owner.route.method == method.upper() else None


def endpoint_of(path: str) -> str | None:
    """The endpoint kind (``mockserver.core.words``: submit, status, balance, files) of a provider
    path, whichever built-in dialect's it is; None for anything else."""
    owner = _owner_of(path)
    return owner.route.kind if owner is not None else None


def response_schema(method: str, path: str, status: int) -> str | None:
    """The schema a JSON answer must match (None: no JSON contract, e.g. admin 200s or files)."""
    dialect, kind = _expected(method, path)
    return dialect.response_schema(kind, status)


def check_response(
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    errors_as_200: bool = False,
    retry_hint: str = "both",
    schemas: Schemas | None = None,
) -> list[Problem]:
    """Every way one HTTP answer breaks the contract; [] if it keeps it.

    ``headers`` must look names up case-insensitively (httpx and Starlette headers do).
    ``errors_as_200``: accept an error envelope on HTTP 200 (a scenario's errors-as-200 mode).
    ``retry_hint``: where a 429 says when to retry (a scenario's ``retry_hint``: both, header,
    body, none); only the places it names are required.
    """
    if retry_hint not in RETRY_HINTS:
        raise ValueError(f"retry_hint must be one of {', '.join(RETRY_HINTS)}, got {retry_hint!r}")
    method = method.upper()
    if method == "HEAD":
        return []
    if status == 200 and endpoint_of(path) == FILES:
        return check_result_file(path, headers, body)
    dialect, kind = _expected(method, path)
    expected = dialect.response_schema(kind, status)
    if expected is None:
        return []
    ctype = headers.get("content-type", "")
    problems = []
    if ctype.split(";")[0].strip().lower() != _JSON:
        problems.append(Problem("header Content-Type", f"expected {_JSON}, got {ctype or 'none'!r}"))
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        excerpt = body[:80].decode("utf-8", "replace")
        return [*problems, Problem("$", f"body is not JSON ({exc}): {excerpt!r}")]
    found = _answer_problems(dialect, kind, status, headers, doc, errors_as_200, retry_hint, schemas)
    if found and (_owner_of(path) is None or status in (404, 405)):
        # A path of no route (a typo, the admin API), or of a dialect the server does not speak
        # (--dialect): the server answers in the envelope of the enabled dialect whose route looks
        # most alike, so any built-in dialect's error body keeps it.
        for other in builtin().values():
            if other is not dialect and other.response_schema(kind, status) is not None:
                if not _answer_problems(other, kind, status, headers, doc, errors_as_200, retry_hint, schemas):
                    return problems
    return problems + found


def _answer_problems(
    dialect: Dialect,
    kind: str | None,
    status: int,
    headers: Mapping[str, str],
    doc: object,
    errors_as_200: bool,
    retry_hint: str,
    schemas: Schemas | None,
) -> list[Problem]:
    # Seen the body, the dialect may pick another schema (an error envelope on a 200).
    name = dialect.response_schema(kind, status, doc, errors_as_200) or dialect.response_schema(kind, status)
    assert name is not None
    found = validate(name, doc, schemas=schemas)
    if retry_hint in ("header", "none"):
        # The published schema requires the body's hint on a 429 (the default, both); this
        # scenario sends it elsewhere or not at all.
        found = [p for p in found if not _missing_body_hint(p)]
    return found + dialect.answer_problems(name, doc, status, headers, retry_hint=retry_hint)


def _missing_body_hint(problem: Problem) -> bool:
    return problem.path == "$.retryAfter" and problem.message == "missing required field"


# The first bytes of each result format: a right Content-Type on the wrong bytes is still broken.
_MAGIC = {
    "image/png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "video/mp4": lambda b: b[4:8] == b"ftyp",
    "audio/wav": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE",
    "audio/mpeg": lambda b: b.startswith(b"ID3") or (len(b) > 1 and b[0] == 0xFF and b[1] & 0xE0 == 0xE0),
}


def check_result_file(url: str, headers: Mapping[str, str], body: bytes) -> list[Problem]:
    """A downloaded result file: Content-Type matching its extension (if any) and its bytes."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    expected = CONTENT_TYPES.get(ext)
    if expected is not None and ctype != expected:
        shown = repr(ctype) if ctype else "none"
        return [Problem("header Content-Type", f"expected {expected} for .{ext}, got {shown}")]
    if ctype not in _MAGIC:
        known = ", ".join(sorted(_MAGIC))
        return [Problem("header Content-Type", f"{ctype or 'none'!r} is not a result media type ({known})")]
    if not _MAGIC[ctype](body):
        return [Problem("body", f"the bytes are not {ctype} (starts {body[:12]!r})")]
    return []


def check_httpx_response(response: Any, *, errors_as_200: bool = False, retry_hint: str = "both") -> list[Problem]:
    """check_response for an httpx.Response (its body must be read)."""
    return check_response(
        response.request.method,
        urlsplit(str(response.request.url)).path,
        response.status_code,
        response.headers,
        response.content,
        errors_as_200=errors_as_200,
        retry_hint=retry_hint,
    )


def describe(problems: list[Problem], response: Any | None = None) -> str:
    """A failure message: the request, the answer's start, and each problem."""
    lines = []
    if response is not None:
        req = response.request
        lines.append(f"{req.method} {req.url} -> {response.status_code}")
        lines.append(f"body: {response.content[:300].decode('utf-8', 'replace')}")
    lines += [f"  {p}" for p in problems]
    return "\n".join(lines)
