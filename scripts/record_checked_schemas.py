"""Check the bundled model schemas against Draft 2020-12's meta-schema and record their digests.

    python scripts/record_checked_schemas.py           # check them, rewrite mockserver/core/checked_schemas.txt
    python scripts/record_checked_schemas.py --check   # exit 1 when the file is out of date

A catalog skips the meta-schema check (~0.15 s of CPU per process, a quarter of `mockserver serve`'s
start-up) for a schema whose text has a recorded digest (mockserver/core/catalog.py); any other text
is checked as it loads. tests/core/test_catalog.py fails when the file is out of date: run this after
editing a model schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from mockserver.core.catalog import CHECKED_SCHEMAS, schema_digest, schema_dir

ROOT = Path(__file__).resolve().parent.parent
HEADER = (
    "# SHA-256 of each bundled model schema's text, checked against Draft 2020-12's meta-schema when\n"
    "# recorded: scripts/record_checked_schemas.py writes this file (mockserver/core/catalog.py reads it).\n"
)


def bundled_schemas() -> list[Path]:
    """The schema file of every model of the built-in catalogs (each models.yaml beside its schemas)."""
    catalogs = [
        (ROOT / "mockserver" / "core" / "models.yaml", schema_dir() / "models"),
        (ROOT / "mockserver" / "dialects" / "api123" / "models.yaml", schema_dir() / "123api" / "models"),
    ]
    files = []
    for data_file, folder in catalogs:
        names = yaml.safe_load(data_file.read_text(encoding="utf-8"))["models"]
        files += [folder / f"{name}.json" for name in names]
    return sorted(files)


def render() -> str:
    """The file's text; raises on a schema the meta-schema refuses (it must not be recorded)."""
    lines = []
    for path in bundled_schemas():
        text = path.read_text(encoding="utf-8")
        Draft202012Validator.check_schema(json.loads(text))
        lines.append(f"{schema_digest(text)}  {path.relative_to(schema_dir().parent).as_posix()}\n")
    return HEADER + "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = CHECKED_SCHEMAS.read_text(encoding="utf-8") if CHECKED_SCHEMAS.is_file() else ""
    if args.check:
        if current != text:
            print(f"{CHECKED_SCHEMAS} is out of date: run python scripts/record_checked_schemas.py", file=sys.stderr)
            return 1
        return 0
    CHECKED_SCHEMAS.write_text(text, encoding="utf-8")
    print(f"wrote {CHECKED_SCHEMAS.relative_to(ROOT)}: {text.count(chr(10)) - HEADER.count(chr(10))} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
