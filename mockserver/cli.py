"""The ``mockserver`` command line: parses options and calls library functions."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import NoReturn

from mockserver._version import __version__
from mockserver.core.config import DEFAULT_HOST, DEFAULT_PORT, Settings, env_settings, parse_api_key


def _env_help(name: str) -> str:
    return f"(env MOCKSERVER_{name.upper()})"


def _dialect_titles() -> str:
    from mockserver.dialects import default_dialects

    titles = [d.title for d in default_dialects()]
    return f"{', '.join(titles)} dialect{'s' if len(titles) > 1 else ''}"


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line naming the command and the option, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")

    def unrecognized(self, extras: list[str]) -> NoReturn:
        """Refuse options this command does not know, suggesting the closest one it does."""
        from mockserver.core.suggest import close_names

        known = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
        first = next((e.split("=", 1)[0] for e in extras if e.startswith("-")), "")
        close = close_names(first, known) if first.startswith("--") else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")


def _http_url(value: str) -> str:
    from mockserver.core.config import http_url

    try:
        return http_url(value, "URL")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an absolute http(s) URL such as http://mock:8000") from None


_UNSET = object()  # --evict-after not given (None means "off")


def _evict_after(value: str) -> int | None:
    from mockserver.core.config import parse_evict_after

    try:
        return parse_evict_after(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mockserver",
        description=f"A local, stateful mock of async AI-generation APIs ({_dialect_titles()}).",
    )
    parser.add_argument("--version", action="version", version=f"mockserver {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the mock server", description="Run the mock server.")
    serve.add_argument("--host", help=f"interface to bind (default {DEFAULT_HOST}) {_env_help('host')}")
    serve.add_argument("--port", type=int, help=f"port, 0 = any free one (default {DEFAULT_PORT}) {_env_help('port')}")
    serve.add_argument("--clock", choices=["real", "manual"], help=f"real (default) or manual {_env_help('clock')}")
    serve.add_argument(
        "--time-scale", type=float, help=f"real clock speed-up: 100 = a 30 s task takes 0.3 s {_env_help('time_scale')}"
    )
    serve.add_argument(
        "--dialect",
        metavar="NAME[,NAME]",
        help="the wire formats to speak (default: every built-in one, apixo) (env MOCKSERVER_DIALECTS)",
    )
    serve.add_argument(
        "--seed",
        type=int,
        help=f"seed for task ids, timing jitter and rules (default: drawn at random, printed) {_env_help('seed')}",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        metavar="KEY[:BALANCE]",
        help="accept only this key (repeatable); BALANCE in credits, absent = unlimited (env MOCKSERVER_API_KEYS, "
        "space or comma separated)",
    )
    serve.add_argument(
        "--public-url",
        type=_http_url,
        help=f"base URL of result links, e.g. http://mock:8000 in containers {_env_help('public_url')}",
    )
    serve.add_argument("--admin-token", help=f"require this bearer token on /__admin {_env_help('admin_token')}")
    serve.add_argument(
        "--webhook-secret",
        metavar="whsec_BASE64",
        help="sign callbacks per Standard Webhooks with this secret (env MOCKSERVER_WEBHOOK_SECRET)",
    )
    serve.add_argument(
        "--journal-size", type=int, help=f"journal ring buffer size (default 10000) {_env_help('journal_size')}"
    )
    serve.add_argument(
        "--evict-after",
        metavar="MS|off",
        type=_evict_after,
        default=_UNSET,
        help="forget a task this many ms after its result files expire (default 86400000, a day; "
        "off: keep every task) (env MOCKSERVER_EVICT_AFTER_MS)",
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help=f"also check each request against the published request schema: 400 naming the rule {_env_help('strict')}",
    )
    _log_options(serve)
    serve.add_argument("--access-log", action="store_true", help="print a line per request (uvicorn's access log)")
    serve.add_argument(
        "--url-file",
        metavar="PATH",
        help="once the server answers, write its URL to PATH (atomically; removed on stop): "
        "with --port 0, how a script learns the port",
    )

    report = sub.add_parser(
        "report",
        help="print a running server's client conformance report",
        description="Print what the clients of a running mock did against the provider's "
        "guidance. Exit code 1 when there are error findings, 0 when there are none, 2 when "
        "the server cannot be asked.",
    )
    default_url = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    report.add_argument("--url", type=_http_url, help=f"the server (default $MOCKSERVER_URL or {default_url})")
    report.add_argument("--key", help="only this API key's requests (--key '': requests that carried no key)")
    report.add_argument("--admin-token", help=f"the server's admin token {_env_help('admin_token')}")
    report.add_argument("--json", action="store_true", help="print the report as JSON, not a table")
    report.add_argument(
        "--html",
        metavar="FILE",
        help="also write the report with every task's timeline as one self-contained HTML file (CI artifacts)",
    )

    tail = sub.add_parser(
        "tail",
        help="follow a running server's requests, one line each",
        description="Follow a running mock's event stream (/__admin/events): one line per request (virtual "
        "time, key masked, method, path, status, injected fault, task state), callback attempts, clock "
        "moves and resets. Coloured when stdout is a terminal. Exit 0 when the server stops, 2 when it "
        "cannot be asked.",
    )
    tail.add_argument("--url", type=_http_url, help=f"the server (default $MOCKSERVER_URL or {default_url})")
    tail.add_argument("--admin-token", help=f"the server's admin token {_env_help('admin_token')}")
    tail.add_argument("--json", action="store_true", help="one JSON object per event: {event, data}")
    validate = sub.add_parser(
        "validate",
        help="check a JSON (or YAML) document against a published schema",
        usage="mockserver validate [-h] [--schema NAME] [--model MODEL] [SCHEMA] FILE",
        description="Check a payload, a recorded response or a scenario file against a published schema "
        "(named with --schema or as the first argument: mockserver validate 123api/models/gpt-4o-image "
        "body.json). Prints each problem with its JSON path. Exit 0 valid, 1 invalid, 2 unusable input "
        "(unknown schema, unreadable file, not JSON).",
    )
    validate.add_argument(
        "--schema",
        metavar="NAME",
        help="status-response, generate-request, error, models/gpt-image-1, scenario, 123api/status-response, "
        "123api/models/gpt-4o-image... (GET /schemas/ lists them)",
    )
    validate.add_argument(
        "--model", help="with --schema generate-request: also check input against this model's schema"
    )
    validate.add_argument(
        "operands",
        nargs="+",
        metavar="FILE",
        help="the document, or - for stdin; before it the schema's NAME, when --schema does not give it",
    )

    serve.add_argument(
        "--scenario",
        metavar="NAME|FILE",
        help="a library scenario (see `mockserver scenarios`) or a YAML/JSON file; explicit flags win "
        f"over its keys {_env_help('scenario')}",
    )

    scenarios = sub.add_parser(
        "scenarios", help="list the scenario library", description="List the library's scenarios, or print one."
    )
    scenarios.add_argument("name", nargs="?", help="print this scenario's file")

    replay = sub.add_parser(
        "replay",
        help="serve the scenario of a failed test again (a replay bundle)",
        description="Serve the scenario a failed test ran against, with its seed and clock, so the client's "
        "same requests get the same answers. A manual clock follows the bundle's journal: each request "
        "first moves it to the time the same request had. Prints the journal; exit 2 on a bad bundle.",
    )
    replay.add_argument("bundle", metavar="PATH", help="a bundle from .mockserver/failures/")
    replay.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default {DEFAULT_HOST})")
    replay.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port, 0 = any free one (default {DEFAULT_PORT})"
    )
    replay.add_argument("--admin-token", help=f"require this bearer token on /__admin {_env_help('admin_token')}")
    _log_options(replay)

    contract = sub.add_parser(
        "contract",
        help="run the contract suite against a server",
        description="Run the contract suite (the tests of contract_tests/, shipped inside the package) against "
        "a server: the mock, or the provider itself. Every answer is checked against the published schemas. "
        "Exit 0 all passed, 1 a test failed, 2 the suite could not run (server unreachable, key refused). "
        "Arguments after -- go to pytest (-- -k lifecycle -x).",
    )
    contract.add_argument(
        "--base-url", type=_http_url, help="the server to check (default: start a mock in this process)"
    )
    contract.add_argument("--api-key", help="bearer key for the server (default sk_contract_test)")
    contract.add_argument(
        "--dialect",
        default=_dialect_names()[0],
        choices=_dialect_names(),
        help=f"the wire format the server speaks (default {_dialect_names()[0]})",
    )
    contract.add_argument("--admin-token", help="the server's admin token, if it has one (a mock's /__admin)")
    contract.add_argument(
        "--allow-spend", action="store_true", help="run the tests that create tasks on a server whose credits are real"
    )
    contract.add_argument(
        "--model", help="the model the lifecycle tests use (default nano-banana for apixo, gpt-4o-image for 123api)"
    )
    contract.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help=argparse.SUPPRESS)
    return parser


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        default="warning",
        type=str.lower,
        choices=LOG_LEVELS,
        help=f"uvicorn log level: {', '.join(LOG_LEVELS)} (default warning)",
    )


def _dialect_names() -> list[str]:
    from mockserver.dialects import builtin

    return list(builtin())


def settings_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    """CLI flags over MOCKSERVER_* environment variables over defaults."""
    values: dict[str, object] = env_settings(os.environ if environ is None else environ)
    for name in ("host", "port", "clock", "time_scale", "seed", "public_url", "admin_token", "journal_size"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if getattr(args, "evict_after", _UNSET) is not _UNSET:
        values["evict_after_ms"] = args.evict_after
    if getattr(args, "dialect", None):
        values["dialects"] = args.dialect
    if getattr(args, "webhook_secret", None):
        values["webhook_secret"] = args.webhook_secret
    if getattr(args, "strict", None):
        values["strict"] = True
    if args.api_key:
        values["api_keys"] = dict(parse_api_key(spec) for spec in args.api_key)
    if getattr(args, "scenario", None):
        values["scenario"] = args.scenario
    if values.get("scenario"):
        values["scenario"] = _scenario_with_flags(values)
    return Settings(**values)  # type: ignore[arg-type]


def _scenario_with_flags(values: dict[str, object]) -> object:
    """Load the scenario and lay the explicitly given settings over it: a flag beats the file."""
    from mockserver.scenarios import loading as scenario

    doc = scenario.load(values["scenario"]).document
    merged = scenario.with_overrides(
        doc,
        seed=values.get("seed"),  # type: ignore[arg-type]
        clock=values.get("clock"),  # type: ignore[arg-type]
        scale=values.get("time_scale"),  # type: ignore[arg-type]
        accounts=values.get("api_keys"),  # type: ignore[arg-type]
        base_url=values.get("public_url"),  # type: ignore[arg-type]
    )
    return scenario.load(merged)


def banner(url: str, settings: Settings, seed: int | None = None) -> str:
    """The start-up lines; ``seed``: the one the server drew when the settings name none."""
    from mockserver.scenarios.loading import Scenario

    sc = settings.scenario if isinstance(settings.scenario, Scenario) else None
    clock = (sc and sc.clock_mode) or settings.clock
    scale = (sc and sc.clock_scale) or settings.time_scale
    drawn = False
    if sc is not None and sc.seed is not None:
        seed = sc.seed
    elif settings.seed is not None:
        seed = settings.seed
    else:
        drawn = True
    keys = sc.accounts if sc is not None and sc.accounts is not None else settings.api_keys
    key = next(iter(keys), "sk_test") if keys else "sk_test"
    lines = [
        f"mockserver {__version__} listening on {url}  (clock: {clock}"
        + (f", x{scale:g}" if clock == "real" and scale != 1 else "")
        + f", seed {seed}"
        + (f" drawn at random: --seed {seed} repeats this run" if drawn else "")
        + (", keys restricted" if keys is not None else ", any bearer key accepted")
        + (f", scenario {_scenario_name(settings)}" if settings.scenario is not None else "")
        + (", strict" if settings.strict else "")
        + ")",
        *_try_lines(url, key, settings),
        f"Admin: {url}/__admin/health   Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def _try_lines(url: str, key: str, settings: Settings) -> list[str]:
    """A curl line per enabled dialect that submits a small task on its first submit route."""
    import json
    import shlex

    from mockserver.core.words import SUBMIT
    from mockserver.dialects import resolve
    from mockserver.dialects.protocol import fill_template

    lines = []
    for dialect in resolve(settings.dialects):
        route = next((r for r in dialect.routes if r.kind == SUBMIT), None)
        if route is None:
            continue
        params, body = dialect.submit_example()
        lines.append(
            f"  curl -s -X {route.method} {url}{fill_template(route.path, params)} "
            f"-H {shlex.quote(f'Authorization: Bearer {key}')} -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(body))}"
        )
    return ["Try:", *lines] if lines else []


def _scenario_name(settings: Settings) -> str:
    name = getattr(settings.scenario, "name", None)
    return name or "(unnamed)"


def cmd_serve(args: argparse.Namespace) -> int:
    from mockserver.scenarios.loading import ScenarioError

    prog = "mockserver serve"
    try:
        settings = settings_from_args(args)
    except ScenarioError as exc:
        return _refuse_scenario(prog, args.scenario or os.environ.get("MOCKSERVER_SCENARIO"), exc)
    except (TypeError, ValueError) as exc:
        return _error(prog, str(exc))
    if args.url_file and not os.path.isdir(os.path.dirname(os.path.abspath(args.url_file))):
        return _error(prog, f"--url-file {args.url_file}: no such directory")
    sock = _listen(prog, settings.host, settings.port)
    if sock is None:
        return 2
    # The app's imports (half a second of CPU) once the options are known good: a bad one is refused fast.
    from mockserver.http.app import create_app
    from mockserver.http.server import url_of

    app = create_app(settings)
    url = url_of(sock)
    print(banner(url, settings, app.state.mock.seed), flush=True)
    return _run(app, sock, url=url, url_file=args.url_file, log_level=args.log_level, access_log=args.access_log)


def _error(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def _refuse_scenario(prog: str, source: object, exc: Exception) -> int:
    """Every problem of the scenario, in the wording validate and replay use too; exit 2."""
    from mockserver.scenarios.loading import refusal, source_problems

    found = source_problems(source) if source else []
    label = getattr(exc, "source", None) or str(source or "scenario")
    return _error(prog, refusal(label, found or [exc]))  # type: ignore[list-item]


def _listen(prog: str, host: str, port: int):
    """A bound, listening socket; None (and a one-line error) when the address is taken or bad."""
    from mockserver.http.server import bind_socket

    try:
        return bind_socket(host, port)
    except OSError as exc:
        print(f"{prog}: error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return None


def _run(app, sock, url: str, url_file: str | None = None, **options) -> int:
    """Serve ``app`` on ``sock`` until SIGINT or SIGTERM, answering requests in flight; exit code 0."""
    from mockserver.http.server import make_server, tune_gc_for_serving, write_url_file

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # uvicorn catches both signals while it runs, shuts down gracefully, then raises the signal
    # again under the handler it found: for SIGTERM that must be ours, not the default (exit 143).
    previous = signal.signal(signal.SIGTERM, stop)
    on_started = (lambda: write_url_file(url_file, url)) if url_file else None
    tune_gc_for_serving()  # this process only serves: fewer full collections (docs/performance.md)
    try:
        make_server(app, on_started=on_started, **options).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
        if url_file:
            _remove_url_file(url_file, url)
    print("mockserver stopped", flush=True)
    return 0


def _remove_url_file(path: str, url: str) -> None:
    """A stopped server's URL must not be read by the next script; leave a file that is not ours."""
    try:
        with open(path, encoding="utf-8") as f:
            ours = f.read().strip() == url
        if ours:
            os.unlink(path)
    except OSError:
        pass


def _skip_httpx_cli() -> None:
    """Before importing httpx in a command: leave out httpx's own command line, never run here.

    httpx's package imports it (``httpx._main``: rich, click and pygments where they are installed,
    ~0.1 s of CPU, a third of a `tail` or `report` run) inside a try/except ImportError; a None in
    sys.modules fails that import at once, as it fails where those packages are absent. Only while
    httpx is not imported yet: a process that has it keeps it as it is.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _verify(url: str) -> bool:
    """httpx's ``verify`` for a request to ``url``: plain http has no TLS to verify, yet the default
    (True) makes an SSL context, reading the CA bundle (~50 ms of CPU); https is verified as before."""
    return not url.lower().startswith("http://")


def cmd_report(args: argparse.Namespace) -> int:
    import json

    _skip_httpx_cli()
    import httpx

    from mockserver.report import format_report

    url = args.url or os.environ.get("MOCKSERVER_URL") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    url = url.rstrip("/")
    token = args.admin_token or os.environ.get("MOCKSERVER_ADMIN_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"key": args.key} if args.key is not None else {}
    try:
        r = httpx.get(f"{url}/__admin/report", params=params, headers=headers, timeout=30, verify=_verify(url))
    except httpx.HTTPError as exc:
        print(f"mockserver: error: cannot reach {url}: {exc}", file=sys.stderr)
        return 2
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code != 200 or not isinstance(body, dict) or "findings" not in body:
        detail = r.text[:200] if body is None else json.dumps(body)[:200]
        print(
            f"mockserver: error: {url}/__admin/report answered {r.status_code}: {detail}",
            file=sys.stderr,
        )
        return 2
    if args.html:
        problem = _write_html_report(url, headers, args.html)
        if problem:
            print(f"mockserver: error: {problem}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        print(format_report(body), end="")
    return 1 if body.get("summary", {}).get("errors") else 0


def _write_html_report(url: str, headers: dict[str, str], path: str) -> str | None:
    """Write the HTML report of the server at ``url`` to ``path``; the problem, if any, in one line."""
    _skip_httpx_cli()
    import httpx

    from mockserver.report.html import render_html

    try:
        r = httpx.get(f"{url}/__admin/timelines", headers=headers, timeout=30, verify=_verify(url))
    except httpx.HTTPError as exc:
        return f"cannot reach {url}: {exc}"
    if r.status_code != 200:
        return f"{url}/__admin/timelines answered {r.status_code}: {r.text[:200]}"
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(render_html(r.json(), title=f"mockserver client report: {url}"))
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    return None


def cmd_tail(args: argparse.Namespace) -> int:
    import json

    _skip_httpx_cli()
    import httpx

    from mockserver.http.events import describe_event

    url = (args.url or os.environ.get("MOCKSERVER_URL") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}").rstrip("/")
    token = args.admin_token or os.environ.get("MOCKSERVER_ADMIN_TOKEN")
    headers = {"Accept": "text/event-stream", **({"Authorization": f"Bearer {token}"} if token else {})}
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    timeout = httpx.Timeout(10.0, read=None)  # the stream may stay quiet for as long as nothing happens
    try:
        with httpx.stream("GET", f"{url}/__admin/events", headers=headers, timeout=timeout, verify=_verify(url)) as r:
            if r.status_code != 200:
                r.read()
                print(
                    f"mockserver: error: {url}/__admin/events answered {r.status_code}: {r.text[:200]}", file=sys.stderr
                )
                return 2
            kind, data = None, []
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and kind is not None:
                    body = json.loads("".join(data))
                    if args.json:
                        print(json.dumps({"event": kind, "data": body}), flush=True)
                    else:
                        print(describe_event(kind, body, colour=colour), flush=True)
                    kind, data = None, []
    except KeyboardInterrupt:
        return 0
    except httpx.HTTPError as exc:
        print(f"mockserver: error: cannot reach {url}: {exc}", file=sys.stderr)
        return 2
    return 0


def _label(path: str) -> str:
    return "stdin" if path == "-" else path


def _read_document(path: str, yaml_ok: bool) -> object:
    """The parsed document; ValueError (with the reason) when it cannot be read or parsed."""
    import json

    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    yaml_ok = yaml_ok or path.endswith((".yaml", ".yml"))
    try:
        return json.loads(text)
    except ValueError as exc:
        if not yaml_ok:
            raise ValueError(f"{_label(path)} is not JSON: {exc}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{_label(path)} is neither JSON nor YAML: {exc}") from None


def cmd_validate(args: argparse.Namespace) -> int:
    from mockserver.contract import UnknownSchema, load_schemas, validate

    operands = list(args.operands)
    if len(operands) != (1 if args.schema is not None else 2):
        given = " ".join(operands)
        print(
            "mockserver validate: error: give one schema (--schema NAME, or as the first argument) and one FILE, "
            f"e.g. mockserver validate 123api/status-response doc.json (got: {given})",
            file=sys.stderr,
        )
        return 2
    schema = args.schema if args.schema is not None else operands.pop(0)
    args.file = operands[0]
    try:
        name = load_schemas().resolve(schema)
        document = _read_document(args.file, yaml_ok=name.startswith("scenario"))
        if name == "scenario" and args.model is None:
            # Scenarios in the words serve and replay use, with the checks beyond the schema.
            from mockserver.scenarios.loading import problems as scenario_problems

            problems: list[object] = list(scenario_problems(document))
        else:
            problems = list(validate(name, document, model=args.model))
    except (UnknownSchema, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        print(f"mockserver validate: error: {message}", file=sys.stderr)
        return 2
    label = _label(args.file)
    against = name + (f" for {args.model}" if args.model else "")
    if not problems:
        print(f"{label}: valid ({against})")
        return 0
    print(f"{label}: {len(problems)} problem{'s' if len(problems) > 1 else ''} ({against})")
    for problem in problems:
        print(f"  {problem}")
    return 1


def cmd_scenarios(args: argparse.Namespace) -> int:
    from mockserver.scenarios.loading import find, library

    if args.name:
        entry = find(args.name)
        if entry is None:
            names = ", ".join(e.name for e in library())
            print(f"mockserver: error: no scenario named {args.name!r} (the library has {names})", file=sys.stderr)
            return 2
        print(entry.path.read_text(encoding="utf-8"), end="")
        return 0
    entries = library()
    width = max((len(e.name) for e in entries), default=0)
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.description}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from mockserver.http.server import url_of
    from mockserver.testing.replay import BundleError, describe, load_bundle, replay_app

    try:
        bundle = load_bundle(args.bundle)
    except BundleError as exc:
        return _error("mockserver replay", str(exc))
    token = args.admin_token or os.environ.get("MOCKSERVER_ADMIN_TOKEN") or None
    sock = _listen("mockserver replay", args.host, args.port)
    if sock is None:
        return 2
    app = replay_app(bundle, host=args.host, port=sock.getsockname()[1], admin_token=token)
    url = url_of(sock)
    clock = app.state.mock.clock.mode
    print(describe(bundle, base_url=url), flush=True)
    print(
        f"Replaying on {url}  (seed {app.state.mock.seed}, clock {clock}"
        + (", following the journal's times" if clock == "manual" else "")
        + ")\nPoint the client at it; the new journal: "
        f"{url}/__admin/journal   Press Ctrl-C to stop.",
        flush=True,
    )
    return _run(app, sock, url=url, log_level=args.log_level)


def cmd_contract(args: argparse.Namespace) -> int:
    from mockserver.contract.suite import run_suite

    _skip_httpx_cli()  # the suite's clients are httpx's

    return run_suite(
        base_url=args.base_url,
        api_key=args.api_key,
        admin_token=args.admin_token,
        allow_spend=args.allow_spend,
        model=args.model,
        dialect=args.dialect,
        pytest_args=args.pytest_args,
    )


COMMANDS = {
    "serve": cmd_serve,
    "report": cmd_report,
    "tail": cmd_tail,
    "validate": cmd_validate,
    "scenarios": cmd_scenarios,
    "replay": cmd_replay,
    "contract": cmd_contract,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        _subparser(parser, args.command).unrecognized(extras)
    command = COMMANDS.get(args.command)
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return command(args)
    except BrokenPipeError:
        # The reader went away (`mockserver scenarios | head -1`): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _subparser(parser: argparse.ArgumentParser, command: str | None) -> _Parser:
    """The parser of ``command`` (the top-level one when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser  # type: ignore[return-value]


if __name__ == "__main__":
    sys.exit(main())
