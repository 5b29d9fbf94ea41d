"""The version, written once: pyproject.toml reads it from here (hatch's dynamic version)."""

__version__ = "0.1.0"
