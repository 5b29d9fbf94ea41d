"""Masked keys: what the admin API shows, and how a replay takes a masked account back."""

from __future__ import annotations

from mockserver.core.billing import Accounts
from mockserver.core.redact import is_masked, mask_key


def test_mask_keeps_the_last_four_characters_of_long_keys_only():
    assert mask_key("sk_live_abcdef1234") == "****1234"
    assert mask_key("sk_test_k") == "****st_k"
    assert mask_key("sk_short") == "****"  # 8 characters: 4 would be half the key
    assert mask_key(None) is None
    assert mask_key("****1234") == "****1234" and is_masked("****1234") and not is_masked("sk_live_abcdef1234")


def test_a_replay_lets_the_real_key_take_over_its_masked_account():
    accounts = Accounts({"****1234": 5.0, "sk_other_key_9": None}, claim_masked=True)
    assert accounts.find("sk_wrong_key_5678") is None
    assert accounts.find("sk_live_abcdef1234") == "sk_live_abcdef1234"
    assert accounts.balance("sk_live_abcdef1234") == 5.0
    assert accounts.find("sk_else_zzzz1234") is None  # taken once, by the first key
    # Outside a replay a masked key is just a key: nobody takes it over.
    assert Accounts({"****1234": 5.0}).find("sk_live_abcdef1234") is None
