"""Standard Webhooks signing of callbacks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional), or ValueError."""
    if not isinstance(secret, str):
        raise ValueError(f"webhook secret: expected a string, got {type(secret).__name__}")
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError(
            "webhook secret: expected 'whsec_' followed by base64 bytes, e.g. whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        )
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(id.timestamp.body)>`` per Standard Webhooks."""
    mac = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def webhook_id(task_id: str, stage: str | None) -> str:
    """Stable per delivery (task and stage), so every retry carries the same id."""
    digest = hashlib.sha256(f"{task_id}:{stage or ''}".encode()).hexdigest()[:24]
    return f"msg_{digest}"
