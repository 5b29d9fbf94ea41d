"""The 123API dialect: ``API123`` implements ``mockserver.dialects.protocol.Dialect``."""

from mockserver.dialects.api123.wire import API123, Api123

__all__ = ["API123", "Api123"]
