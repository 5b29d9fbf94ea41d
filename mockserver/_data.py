"""Where the data files that ship with the package live: schemas, the scenario library, the contract suite."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """``name`` (schemas, scenarios, contract_tests) inside an installed package (``_name``), else in the checkout."""
    packaged = _PACKAGE / f"_{name}"
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name
