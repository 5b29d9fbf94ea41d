"""``mockserver.strategies``: the Hypothesis strategies (defined in ``mockserver.testing.strategies``)."""

from mockserver.testing.strategies import *  # noqa: F403
from mockserver.testing.strategies import __all__  # noqa: F401
