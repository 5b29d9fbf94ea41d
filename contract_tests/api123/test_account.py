"""The models list, credits (402, refunds) and rate limits (429 with retryAfter), and idempotency."""

from __future__ import annotations

import uuid

import pytest

from .conftest import MODELS, TASK, Driver123, error_of

pytestmark = pytest.mark.dialect("123api")


def test_models_list_names_the_model_in_use(driver: Driver123):
    r = driver.client.get(MODELS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert len(ids) == len(set(ids)) and driver.model in ids, ids


@pytest.fixture
def payer(driver: Driver123) -> dict:
    """Headers of a fresh key with a limited balance (set through /__admin)."""
    key = f"sk_contract_{uuid.uuid4().hex[:12]}"
    driver.admin("PUT", f"/accounts/{key}", json={"balance": 10_000})
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.needs_admin
def test_a_task_the_balance_cannot_pay_is_402_and_no_task(driver: Driver123):
    key = f"sk_contract_broke_{uuid.uuid4().hex[:8]}"
    driver.admin("PUT", f"/accounts/{key}", json={"balance": 0})
    error_of(driver.submit(headers={"Authorization": f"Bearer {key}"}), 402)
    assert driver.admin("GET", "/tasks", params={"key": key}).json()["tasks"] == []


@pytest.mark.spends_credits
@pytest.mark.needs_admin
def test_a_task_is_paid_for_and_a_failed_one_refunded(driver: Driver123, payer: dict):
    before = driver.balance(payer)
    task_id = driver.submit_ok(headers=payer)
    assert driver.balance(payer) < before
    driver.admin("POST", f"/tasks/{task_id}/fail", json={"code": "GENERATION_FAILED"})
    assert driver.data(task_id, payer)["status"] == "failed"
    assert driver.balance(payer) == pytest.approx(before)


@pytest.mark.needs_admin
def test_a_rate_limit_is_429_with_retry_after_in_body_and_header(driver: Driver123):
    # A rule for one fresh key only, added to the running scenario (no reset: other tests' tasks stay).
    key = f"sk_contract_limited_{uuid.uuid4().hex[:8]}"
    driver.admin("PUT", f"/accounts/{key}", json={"balance": 10_000})  # a server with --api-key knows it then
    rule = {
        "when": {"key": key, "endpoint": "tasks", "dialect": "123api"},
        "respond": {"status": 429, "retry_after": 7},
    }
    driver.admin("POST", "/rules", json=rule)
    r = driver.client.get(TASK.format(task_id="task-any-0"), headers={"Authorization": f"Bearer {key}"})
    body = error_of(r, 429)
    assert body["retryAfter"] == 7 and r.headers["Retry-After"] == "7", (body, dict(r.headers))
    # The rule is that key's alone.
    error_of(driver.status("task-any-0"), 404)


@pytest.mark.spends_credits
@pytest.mark.extension  # 123API documents no idempotency keys (004 only advises them)
def test_an_idempotency_key_returns_the_same_task_and_another_body_is_409(driver: Driver123):
    headers = {"Idempotency-Key": f"contract-{uuid.uuid4()}"}
    body = driver.target.example_input()
    first = driver.submit_ok(body, headers=headers)
    assert driver.submit_ok(body, headers=headers) == first
    error_of(driver.submit({**body, "prompt": body["prompt"] + " (changed)"}, headers=headers), 409)
