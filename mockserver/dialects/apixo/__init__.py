"""The APIXO dialect: ``APIXO`` implements ``mockserver.dialects.protocol.Dialect``."""

from mockserver.dialects.apixo.wire import APIXO, Apixo

__all__ = ["APIXO", "Apixo"]
