"""Balance and idempotency."""

from __future__ import annotations

import uuid

import pytest

from .conftest import Driver, error_of

pytestmark = pytest.mark.dialect("apixo")


@pytest.fixture
def payer(driver: Driver) -> dict:
    """Headers of a key with a limited balance: a fresh key on a mockserver, else --api-key."""
    if driver.target.locked:
        # Its keys have unlimited credits unless /__admin gives one a balance.
        pytest.skip(f"needs {driver.target.url}/__admin to set a balance, which wants a token: pass --admin-token")
    if not driver.target.admin:
        return {}
    key = f"sk_contract_{uuid.uuid4().hex[:12]}"
    driver.admin("PUT", f"/accounts/{key}", json={"balance": 10_000})
    return {"Authorization": f"Bearer {key}"}


def test_balance_is_a_non_negative_number(driver: Driver):
    balance = driver.balance()
    assert isinstance(balance, int | float) and balance >= 0


@pytest.mark.spends_credits
def test_a_task_is_paid_for(driver: Driver, payer: dict):
    before = driver.balance(payer)
    driver.submit_ok(headers=payer)
    assert driver.balance(payer) < before


@pytest.mark.spends_credits
@pytest.mark.needs_admin
def test_a_failed_task_is_refunded(driver: Driver, payer: dict):
    before = driver.balance(payer)
    task_id = driver.submit_ok(headers=payer)
    assert driver.balance(payer) < before
    driver.admin("POST", f"/tasks/{task_id}/fail", json={"code": "GENERATION_FAILED"})
    assert driver.data(task_id, payer)["state"] == "failed"
    assert driver.balance(payer) == pytest.approx(before)


@pytest.mark.needs_admin
def test_a_task_the_balance_cannot_pay_is_402_and_no_task(driver: Driver):
    key = f"sk_contract_broke_{uuid.uuid4().hex[:8]}"
    driver.admin("PUT", f"/accounts/{key}", json={"balance": 0})
    r = driver.submit(headers={"Authorization": f"Bearer {key}"})
    error_of(r, 402)
    tasks = driver.admin("GET", "/tasks", params={"key": key}).json()["tasks"]
    assert tasks == []


@pytest.mark.spends_credits
@pytest.mark.extension
def test_a_retried_submit_with_an_idempotency_key_is_the_same_task_charged_once(driver: Driver, payer: dict):
    headers = {**payer, "Idempotency-Key": f"contract-{uuid.uuid4()}"}
    body = {"input": driver.target.example_input()}
    before = driver.balance(payer)
    first = driver.submit_ok(body, headers=headers)
    after_first = driver.balance(payer)
    assert driver.submit_ok(body, headers=headers) == first
    assert driver.balance(payer) == after_first < before


@pytest.mark.spends_credits
@pytest.mark.extension
def test_an_idempotency_key_reused_with_another_body_is_409(driver: Driver):
    key = {"Idempotency-Key": f"contract-{uuid.uuid4()}"}
    driver.submit_ok({"input": driver.target.example_input()}, headers=key)
    other = driver.target.example_input()
    other["prompt"] = (other.get("prompt") or "") + " (changed)"
    error_of(driver.submit({"input": other}, headers=key), 409)
