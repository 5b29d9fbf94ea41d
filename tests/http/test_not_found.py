"""Near-miss 404s: documentation paths point at the published contract."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/swagger-ui/index.html", "/openapi", "/api-docs"])
def test_a_documentation_path_points_at_the_published_contract(api, path):
    r = api.client.get(path)
    assert r.status_code == 404
    assert r.json()["data"]["error"] == (
        f"Unknown route {path}; the API is described by GET /openapi.json (OpenAPI 3.1; each dialect's at "
        "/openapi/{dialect}.json) and GET /schemas/ (its JSON Schemas)"
    )
    assert "/__admin" not in r.text
