"""APIXO's published contract beside its schemas: which schema each answer must match, and the
rules JSON Schema cannot say (transitional: delegates to mockserver.contract.validation)."""

from __future__ import annotations

from collections.abc import Mapping

from mockserver.contract import validation as v
from mockserver.core.words import BALANCE, STATUS, SUBMIT

RESPONSE_SCHEMAS = {SUBMIT: "generate-response", STATUS: "status-response", BALANCE: "balance-response"}


def response_schema(kind: str | None, status: int, doc: object = None, errors_as_200: bool = False) -> str | None:
    if status >= 400:
        return "error"
    if status == 200 and errors_as_200 and isinstance(doc, dict) and doc.get("code") != 200:
        return "error"
    if status == 200 and kind is not None:
        return RESPONSE_SCHEMAS.get(kind)
    return None


def answer_problems(schema: str, doc: object, status: int, headers: Mapping[str, str]) -> list[v.Problem]:
    return []


def request_problems(model: str | None, body: object) -> list[v.Problem]:
    assert model is not None
    try:
        return v.validate_request(model, body)
    except v.UnknownSchema:  # a custom catalog's model with no published schema: the top level only
        return v.validate("generate-request", body)
