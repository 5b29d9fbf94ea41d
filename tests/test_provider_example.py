"""The provider page's own polling code, pointed at `mockserver serve --time-scale 100`.

The script's timers run 100 times faster too (a preloaded time_scale.cjs), so client and mock
keep the same time: the exchange is a real run's, in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).parent / "provider_examples" / "poll_with_backoff.mjs"
TIME_SCALE = pathlib.Path(__file__).parent / "provider_examples" / "time_scale.cjs"
SCALE = 100


@pytest.fixture(scope="module")
def served():
    """A real `mockserver serve` process with the real clock sped up 100 times."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--time-scale", str(SCALE), "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        m = re.search(r"listening on (http://\S+)", proc.stdout.readline())
        assert m
        yield m.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js 18+ (global fetch)")
@pytest.mark.parametrize(
    ("model", "input", "ctype"),
    [
        (
            "nano-banana",
            {"mode": "text-to-image", "prompt": "a red fox in the snow", "aspect_ratio": "16:9"},
            "image/png",
        ),
        (
            "gpt-image-1",
            {"mode": "gpt-image-1", "prompt": "a cozy cafe", "aspect_ratio": "3:2", "num_images": 2},
            "image/png",
        ),
    ],
)
def test_provider_polling_code_runs_to_success_and_downloads(served, model, input, ctype):
    out = subprocess.run(
        ["node", "-r", str(TIME_SCALE), str(SCRIPT), model, json.dumps(input)],
        env={**os.environ, "MOCK_URL": served, "MOCK_KEY": "sk_live_demo", "TIME_SCALE": str(SCALE)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["files"] and len(result["files"]) == input.get("num_images", 1)
    for f in result["files"]:
        assert f["status"] == 200 and f["type"] == ctype and f["bytes"] > 100
