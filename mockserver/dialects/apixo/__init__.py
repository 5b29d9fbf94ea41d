from mockserver.dialects.apixo.wire import *  # noqa: F401,F403
from mockserver.dialects.apixo.wire import _DUMPS  # noqa: F401
