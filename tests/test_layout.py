"""The layout keeps its promises: the core is plain Python, a wire format lives in one dialect,
and no two modules import each other (at import time)."""

from __future__ import annotations

import ast
import functools
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "mockserver"
APIXO_WORDS = ("generateTask", "statusTask", "resultJson", "failCode", "failMsg", "costTime", "current-balance")
API123_WORDS = ("/v1/images/generations", "/v1/videos/generations", "/v1/tasks", "queued", "rate_limit_exceeded")
# Each dialect's own words, and the package that alone may spell them.
DIALECT_WORDS = {"mockserver.dialects.apixo": APIXO_WORDS, "mockserver.dialects.api123": API123_WORDS}


def modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


@functools.cache
def parsed(path: pathlib.Path) -> ast.Module:
    """The module's tree, parsed once for all the tests here (none of them changes it)."""
    return ast.parse(path.read_text())


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (module, class, function)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


@functools.cache
def strings(path: pathlib.Path) -> tuple[tuple[int, str], ...]:
    """The module's string constants that are not docstrings, with their line numbers."""
    tree = parsed(path)
    skip = docstrings(tree)
    return tuple(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    )


def import_time_imports(name: str, tree: ast.Module) -> set[str]:
    """The mockserver modules ``name`` imports when it is imported (not in functions, not for typing)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("mockserver"))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mockserver"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(getattr(node, "orelse", []))

    visit(tree.body)
    return found


@pytest.mark.parametrize("owner", sorted(DIALECT_WORDS))
def test_no_dialect_word_outside_its_dialect(owner):
    words = DIALECT_WORDS[owner]
    offenders = []
    for name, path in modules().items():
        if name.startswith(owner):
            continue
        for lineno, text in strings(path):
            hits = [w for w in words if w in text]
            if hits:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{lineno}: {hits[0]}")
    assert offenders == []


def test_the_core_imports_no_web_framework_client_or_event_loop():
    for name, path in modules().items():
        if not name.startswith("mockserver.core"):
            continue
        tree = parsed(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for mod in mods:
                    root = mod.split(".")[0]
                    assert root not in ("starlette", "httpx", "asyncio", "uvicorn", "anyio"), f"{name} imports {mod}"
                    assert not mod.startswith(("mockserver.http", "mockserver.callbacks.dispatcher")), (name, mod)


def test_only_the_dialect_registry_imports_a_dialect():
    """Outside dialects/, a provider is reached through the registry and the protocol, never by import
    (mockserver.contract re-exports two APIXO functions under their old public names, lazily)."""
    for name, path in modules().items():
        if name.startswith("mockserver.dialects"):
            continue
        imported = import_time_imports(name, parsed(path))
        assert not [i for i in imported if i.startswith("mockserver.dialects.apixo")], name


def test_no_import_cycles():
    mods = modules()
    graph = {}
    for name, path in mods.items():
        targets = set()
        for imported in import_time_imports(name, parsed(path)):
            # the longest prefix that is a module of ours (from pkg import module, or from module import name)
            while imported and imported not in mods:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    state: dict[str, int] = {}
    cycles = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt])
            elif state.get(nxt) is None:
                walk(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert cycles == []


@pytest.mark.parametrize(
    "name", ["mockserver.app", "mockserver.testing", "mockserver.strategies", "mockserver.contract"]
)
def test_the_public_import_paths_still_work(name):
    import importlib

    assert importlib.import_module(name) is not None
