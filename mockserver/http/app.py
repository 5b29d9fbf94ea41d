"""``create_app()``: wires the service, the routes and the middleware. Nothing else."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mockserver.callbacks.dispatcher import CallbackDispatcher
from mockserver.core.catalog import Catalog
from mockserver.core.config import Settings
from mockserver.core.errors import ApiError, ServerError
from mockserver.core.service import MockService
from mockserver.dialects.protocol import Dialect
from mockserver.http import admin, faults, provider, published, ui
from mockserver.http.events import EventHub
from mockserver.http.fastpath import FastStatus
from mockserver.http.faults import FaultMiddleware, ServerConnection
from mockserver.http.journaling import JournalMiddleware
from mockserver.http.not_found import endpoints, not_found


def create_app(
    settings: Settings | None = None,
    *,
    catalog: Catalog | None = None,
    dialects: Sequence[Dialect | str] | None = None,
    fast_path: bool = True,
    **overrides: object,
) -> Starlette:
    """A Starlette app serving one mock; ``overrides`` are Settings fields (e.g. clock="manual").

    ``dialects``: the wire formats it speaks (names or Dialect objects; default: the settings', else all).
    ``fast_path=False`` sends status polls through the whole Starlette stack (the reference the
    fast path is tested against).
    """
    if settings is None:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    elif overrides:
        raise TypeError("pass either settings or keyword overrides, not both")
    mock = MockService(settings, catalog, dialects)
    dispatcher = CallbackDispatcher(mock)
    mock.callbacks = dispatcher
    spoken = list(mock.dialects.values())

    async def on_api_error(request, exc: ApiError):
        provider.note(request, error=exc.error or exc.message)
        return provider.error_response(mock, exc, request)

    # A bug in the mock: kept on app.state.errors so a test harness (the pytest plugin)
    # can raise it in the test that caused it, and answered with a 500 envelope. Starlette
    # re-raises it afterwards, so uvicorn logs it and an in-process client raises it.
    errors: deque[BaseException] = deque(maxlen=MAX_KEPT_ERRORS)

    async def on_bug(request, exc: Exception):
        if not faults.is_injected(exc):
            errors.append(exc)
        return provider.error_response(mock, ServerError(error=f"mockserver bug: {type(exc).__name__}: {exc}"), request)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # The callback runner lives as long as the server: deliveries fall due without requests.
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()

    app = MockApp(
        mock,
        fast_path,
        lifespan=lifespan,
        routes=[
            *provider.routes(spoken),
            *admin.routes(),
            *published.routes(),
            Route("/", root, methods=["GET", "HEAD"]),
            Route("/{path:path}", not_found, methods=_ALL),
        ],
        # ServerConnection must stay first (it needs the server's own receive); FaultMiddleware
        # sits inside the journal so the journal records what the client really got.
        middleware=[
            Middleware(ServerConnection),
            Middleware(JournalMiddleware, mock=mock),
            Middleware(FaultMiddleware),
        ],
        exception_handlers={ApiError: on_api_error, Exception: on_bug},
    )
    hub = EventHub(mock)

    def on_exit() -> None:
        # The server's first SIGINT/SIGTERM: stop sending at once, and end the event streams
        # (uvicorn waits for open responses before it stops, and a stream never ends by itself).
        dispatcher.abort()
        hub.close()

    app.state.mock = mock
    app.state.errors = errors
    app.state.events = hub
    app.state.on_exit = on_exit
    app.state.endpoints = endpoints(spoken)
    return app


async def root(request: Request) -> Response:
    """A browser at the server's address is shown the dashboard; an API client gets the usual 404."""
    if ui.wants_html(request):
        return RedirectResponse(admin.PREFIX + "/ui/", status_code=307)
    return await not_found(request)


MAX_KEPT_ERRORS = 100
_ALL = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class MockApp(Starlette):
    """The Starlette app with the status-poll fast path in front of its whole stack."""

    def __init__(self, mock: MockService, fast_path: bool = True, **kw: object) -> None:
        self._mock = mock
        self._fast_path = fast_path
        super().__init__(**kw)  # type: ignore[arg-type]

    def build_middleware_stack(self):
        stack = super().build_middleware_stack()
        return FastStatus(stack, self._mock, self.state.errors) if self._fast_path else stack
