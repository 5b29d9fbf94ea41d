"""The contract toolkit is provider-neutral: APIXO's wire names are spelt in dialects/apixo/, never
in contract/ or the modules that serve and enforce the contract."""

from __future__ import annotations

import ast
import pathlib

import pytest

from tests.testing.test_neutral import APIXO_WORDS, PACKAGE, _strings

NEUTRAL = sorted(
    [*PACKAGE.joinpath("contract").glob("*.py"), *(PACKAGE / "http" / n for n in ("published.py", "strict.py"))]
)


@pytest.mark.parametrize("path", NEUTRAL, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_string_literal_names_apixo_wire_words(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [
        f"{path.name}:{node.lineno}: {word}" for node in _strings(tree) for word in APIXO_WORDS if word in node.value
    ]
    assert found == []
