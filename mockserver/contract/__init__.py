"""The published contract as code: JSON Schemas, the checks beside them, and the OpenAPI document."""

from mockserver.contract.validation import *  # noqa: F403
from mockserver.contract.validation import __all__  # noqa: F401
