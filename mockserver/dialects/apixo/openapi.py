"""APIXO's OpenAPI 3.1 document (transitional: mockserver.contract.openapi)."""

from __future__ import annotations

from typing import Any


def build_openapi(catalog: Any, schemas: Any) -> dict:
    from mockserver.contract.openapi import build_openapi as build

    return build(catalog, schemas)
