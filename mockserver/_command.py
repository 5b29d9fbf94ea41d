"""How a shell runs this mockserver: command lines we print must work without an activated venv."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path


def command() -> str:
    """``mockserver`` if that is this installation's script on PATH; else the script's path
    (relative when under the current folder, as ``.venv/bin/mockserver``); else ``python -m``."""
    script = Path(sysconfig.get_path("scripts")) / ("mockserver.exe" if os.name == "nt" else "mockserver")
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m mockserver"
    on_path = shutil.which("mockserver")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "mockserver"
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    return shlex.quote(shown)
