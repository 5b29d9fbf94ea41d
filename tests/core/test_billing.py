from mockserver.core.billing import UNLIMITED_BALANCE, Accounts


def test_open_mode_accepts_any_key_unlimited():
    acc = Accounts()
    assert acc.find("anything") == "anything"
    assert acc.find("") is None
    assert acc.charge("anything", 1e9)
    assert acc.balance("anything") is None
    assert acc.describe("anything")["balance"] == UNLIMITED_BALANCE


def test_restricted_mode_charges_and_refunds():
    acc = Accounts({"rich": 10, "free": None})
    assert acc.find("nope") is None
    assert acc.find("ric") is None
    assert acc.find("rich") == "rich"
    assert acc.find("free") == "free" and acc.balance("free") is None
    assert acc.charge("rich", 4)
    assert acc.balance("rich") == 6
    assert not acc.charge("rich", 6.5)
    assert acc.balance("rich") == 6
    acc.refund("rich", 4)
    assert acc.balance("rich") == 10


def test_admin_can_limit_a_key_in_open_mode():
    acc = Accounts()
    acc.set_balance("k", 1)
    assert not acc.charge("k", 2)
    assert acc.charge("other", 2)
