"""The published contract as code: JSON Schemas, the checks beside them, and the OpenAPI document.

``schemas`` (the schemas by name, ``validate``), ``checks`` (whole HTTP answers, result files) and
``openapi`` (the bundler) are provider-neutral; what a provider's answers must satisfy lives with
its dialect (``mockserver/dialects/*/contract.py``). ``generate_request_schema`` and
``validate_request`` are APIXO's, kept here under their old names. Names are imported on first use,
like ``mockserver``'s own: a dialect's contract module imports ``contract.schemas``, so importing
it eagerly here would go round in a circle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> module that defines it
_EXPORTS = {
    "Problem": "mockserver.contract.schemas",
    "SCHEMA_BASE": "mockserver.contract.schemas",
    "Schemas": "mockserver.contract.schemas",
    "UnknownSchema": "mockserver.contract.schemas",
    "check_httpx_response": "mockserver.contract.checks",
    "check_response": "mockserver.contract.checks",
    "check_result_file": "mockserver.contract.checks",
    "describe": "mockserver.contract.checks",
    "endpoint_of": "mockserver.contract.checks",
    "generate_request_schema": "mockserver.dialects.apixo.contract",
    "load_schemas": "mockserver.contract.schemas",
    "response_schema": "mockserver.contract.checks",
    "validate": "mockserver.contract.schemas",
    "validate_request": "mockserver.dialects.apixo.contract",
}

__all__ = [
    "Problem",
    "SCHEMA_BASE",
    "Schemas",
    "UnknownSchema",
    "check_httpx_response",
    "check_response",
    "check_result_file",
    "describe",
    "endpoint_of",
    "generate_request_schema",
    "load_schemas",
    "response_schema",
    "validate",
    "validate_request",
]

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.contract.checks import (
        check_httpx_response,
        check_response,
        check_result_file,
        describe,
        endpoint_of,
        response_schema,
    )
    from mockserver.contract.schemas import SCHEMA_BASE, Problem, Schemas, UnknownSchema, load_schemas, validate
    from mockserver.dialects.apixo.contract import generate_request_schema, validate_request


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mockserver.contract' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
