"""The test toolkit and the CLI are provider-neutral: a provider's wire names live in its dialect."""

from __future__ import annotations

import ast
import pathlib

import pytest

import mockserver

PACKAGE = pathlib.Path(mockserver.__file__).parent
NEUTRAL = sorted(
    [*PACKAGE.joinpath("testing").glob("*.py"), *(PACKAGE / n for n in ("cli.py", "strategies.py", "pytest_plugin.py"))]
)
# APIXO's paths and field names (mockserver/dialects/apixo/ spells them).
APIXO_WORDS = ("generateTask", "statusTask", "resultJson", "failCode", "failMsg", "costTime", "current-balance")


def _strings(tree: ast.AST) -> list[ast.Constant]:
    """Every string literal in the module but its docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize("path", NEUTRAL, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_string_literal_names_apixo_wire_words(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [
        f"{path.name}:{node.lineno}: {word}" for node in _strings(tree) for word in APIXO_WORDS if word in node.value
    ]
    assert found == []
