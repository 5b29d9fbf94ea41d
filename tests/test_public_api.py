"""The public surface: an explicit, sorted __all__ whose names all resolve, imported lazily."""

from __future__ import annotations

import subprocess
import sys

import mockserver


def test_all_is_sorted_and_every_name_resolves():
    assert mockserver.__all__ == sorted(mockserver.__all__)
    assert set(mockserver.__all__) == {*mockserver._EXPORTS, "__version__"}
    for name in mockserver.__all__:
        assert getattr(mockserver, name) is not None, name
    assert mockserver.create_app.__module__ == "mockserver.http.app"
    assert mockserver.MockApi.__module__ == "mockserver.testing.mock_api"


def test_unknown_names_are_attribute_errors():
    try:
        mockserver.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("mockserver.nope resolved")


def test_importing_the_package_is_light():
    heavy = "('starlette', 'uvicorn', 'httpx', 'jsonschema')"
    code = f"import sys, mockserver; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
