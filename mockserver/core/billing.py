"""Credits per API key. Plain Python: no HTTP here.

Open mode (no accounts configured): any non-empty key is accepted and has unlimited
credits. Restricted mode: only the configured keys exist, each with a balance.
An admin can give any key a balance at run time, which makes that key limited.
"""

from __future__ import annotations

import hashlib
import hmac

from mockserver.core.redact import is_masked, mask_key

# What the balance endpoint reports for an unlimited key: a large constant, as
# post-paid accounts do on other APIs, so clients that parse a number keep working.
UNLIMITED_BALANCE = 1_000_000


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class Accounts:
    __slots__ = ("restricted", "_balances", "_by_digest", "spent", "_masked")

    def __init__(self, balances: dict[str, float | None] | None = None, claim_masked: bool = False) -> None:
        self.restricted = balances is not None
        # A replay bundle's accounts carry masked keys (****1234): with claim_masked, the first key
        # that ends the same way takes such an account over, so a client replays with its real key.
        self._masked: dict[str, float | None] = {}
        self._balances: dict[str, float] = {}
        # Keys are looked up by their SHA-256 digest and then compared in constant
        # time, so response timing says nothing about how much of a key was right.
        self._by_digest: dict[bytes, str] = {}
        self.spent: dict[str, float] = {}
        for key, balance in (balances or {}).items():
            if claim_masked and is_masked(key):
                self._masked[key] = balance
            else:
                self.set_balance(key, balance)

    def find(self, key: str) -> str | None:
        """The account key matching ``key``, or None when the key is unknown."""
        if not key:
            return None
        if not self.restricted:
            return key
        known = self._by_digest.get(_digest(key))
        if known is not None and hmac.compare_digest(known.encode(), key.encode()):
            return known
        mask = mask_key(key)
        if mask in self._masked:
            self.set_balance(key, self._masked.pop(mask))
            return key
        return None

    def balance(self, key: str) -> float | None:
        """The key's credits; None means unlimited."""
        return self._balances.get(key)

    def set_balance(self, key: str, balance: float | None) -> None:
        """Make ``key`` known with this balance (None: unlimited)."""
        if balance is None:
            self._balances.pop(key, None)
        else:
            self._balances[key] = round(float(balance), 6)
        self._by_digest[_digest(key)] = key

    def charge(self, key: str, amount: float) -> bool:
        """Take ``amount`` credits; False (and nothing taken) when the key cannot pay."""
        current = self._balances.get(key)
        if current is not None:
            if amount > current + 1e-9:
                return False
            self._balances[key] = round(current - amount, 6)
        self.spent[key] = round(self.spent.get(key, 0.0) + amount, 6)
        return True

    def refund(self, key: str, amount: float) -> None:
        current = self._balances.get(key)
        if current is not None:
            self._balances[key] = round(current + amount, 6)
        self.spent[key] = round(self.spent.get(key, 0.0) - amount, 6)

    def forget(self, key: str) -> None:
        """The key's last task was evicted: in open mode, a key nobody gave a balance is forgotten
        (its spending with it), so that distinct keys do not pile up; configured keys stay."""
        if not self.restricted and key not in self._balances and key not in self._by_digest:
            self.spent.pop(key, None)

    def keys(self) -> list[str]:
        return sorted(set(self._balances) | set(self.spent))

    def describe(self, key: str) -> dict:
        balance = self.balance(key)
        return {
            "key": key,
            "balance": balance if balance is not None else UNLIMITED_BALANCE,
            "unlimited": balance is None,
            "spent": self.spent.get(key, 0.0),
        }
