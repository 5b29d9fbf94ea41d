"""123API's model catalog: ``models.yaml`` beside this module, input schemas in ``schemas/123api/models``."""

from __future__ import annotations

import functools
from pathlib import Path

from mockserver.core.catalog import Catalog, read_catalog, schema_dir


@functools.cache
def load_catalog() -> Catalog:
    """Parsed once; the fields are the body's own, so messages name them bare (``size``, not ``input.size``)."""
    return read_catalog(Path(__file__).with_name("models.yaml"), schema_dir() / "123api" / "models", root="")
