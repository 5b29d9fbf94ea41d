"""Callbacks (webhooks): their configuration, Standard Webhooks signing, the attempt log and the
dispatcher that delivers them on the virtual clock. Only the dispatcher needs asyncio and httpx."""

from mockserver.callbacks.config import CallbackConfig
from mockserver.callbacks.signing import sign, webhook_id

__all__ = ["CallbackConfig", "sign", "webhook_id"]
