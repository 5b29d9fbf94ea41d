"""The published OpenAPI documents, read by a code generator nobody here wrote: openapi-python-client
generates a client from each dialect's document, and the generated code, unmodified, submits a task,
polls it and downloads its result from a live mock.

One generation per dialect (a few seconds each). Skipped when openapi-python-client is not
installed (the dev extra has it; .ci/run installs it).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from mockserver.core.media import CONTENT_TYPES, RENDERABLE
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.conftest import KEY, START_MS, example_input
from tests.docs_blocks import block


def _config(package: str) -> str:
    """docs/contract.md's config (the result files are PNG, WAV and MP4: the generator knows no such
    bodies and drops those responses unless told to read them as bytes), with a package name and no
    formatter run."""
    return block("openapi-python-client-config").code + f"post_hooks: []\npackage_name_override: {package}\n"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(create_app(clock="manual", seed=1, start_ms=START_MS)) as server:
        yield server
    if server.error is not None:
        raise server.error


def _generate(server: ServerThread, tmp: Path, document: str, package: str):
    """Generate a client from the served ``document`` into ``tmp`` and import it from there."""
    pytest.importorskip("openapi_python_client", reason="openapi-python-client is not installed (the dev extra)")
    (tmp / "openapi.json").write_bytes(httpx.get(server.url + document).content)
    (tmp / "config.yaml").write_text(_config(package))
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", "openapi.json"]
        + ["--output-path", "out", "--config", "config.yaml"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Generation succeeds, with no warning (a refused $ref, a dropped response) left.
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(tmp / "out"))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp / "out"))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def apixo_client(server, tmp_path_factory):
    yield from _generate(server, tmp_path_factory.mktemp("apixo"), "/openapi.json", "apixo_client")


@pytest.fixture(scope="module")
def api123_client(server, tmp_path_factory):
    yield from _generate(server, tmp_path_factory.mktemp("api123"), "/openapi/123api.json", "api123_client")


def test_the_docs_config_reads_every_result_file_as_bytes():
    # The config every generation here uses (_config): a new result format needs a line in it.
    config = yaml.safe_load(block("openapi-python-client-config").code)
    types = {CONTENT_TYPES[ext] for ext in RENDERABLE}
    assert config == {"content_type_overrides": dict.fromkeys(sorted(types), "application/octet-stream")}


def _advance_to_idle(server: ServerThread) -> None:
    r = httpx.post(server.url + "/__admin/clock/advance", json={"to": "idle"})
    assert r.status_code == 200, r.text


def _file_of(url: str, prefix: str) -> tuple[str, str]:
    task_id, filename = urlsplit(url).path.removeprefix(prefix).split("/")
    return task_id, filename


@pytest.mark.slow
def test_the_generated_apixo_client_submits_polls_and_downloads(server, apixo_client):
    generate = importlib.import_module("apixo_client.api.tasks.generate_task_nano_banana")
    status_task = importlib.import_module("apixo_client.api.tasks.status_task")
    result_file = importlib.import_module("apixo_client.api.files.result_file")
    balance = importlib.import_module("apixo_client.api.account.current_balance")
    models = importlib.import_module("apixo_client.models")

    client = apixo_client.AuthenticatedClient(base_url=server.url, token=KEY)
    body = models.GenerateTaskRequestForNanoBanana.from_dict({"input": example_input("nano-banana")})
    submitted = generate.sync_detailed(client=client, body=body, idempotency_key="generated-client-1")
    assert submitted.status_code == 200, submitted.content
    task_id = submitted.parsed.data.task_id

    pending = status_task.sync(models.StatusTaskModel("nano-banana"), client=client, task_id=task_id)
    assert isinstance(pending.data, models.PendingOrProcessingTask), pending
    _advance_to_idle(server)
    done = status_task.sync(models.StatusTaskModel("nano-banana"), client=client, task_id=task_id)
    assert isinstance(done.data, models.SuccessfulTask), done
    urls = json.loads(done.data.result_json)["resultUrls"]

    anonymous = apixo_client.Client(base_url=server.url)  # result URLs need no key
    downloaded = result_file.sync_detailed(*_file_of(urls[0], "/files/"), client=anonymous)
    assert downloaded.status_code == 200
    assert downloaded.parsed.payload.read() == httpx.get(urls[0]).content
    assert downloaded.content.startswith(b"\x89PNG")
    # An error answer parses into the published error envelope.
    missing = status_task.sync(models.StatusTaskModel("nano-banana"), client=client, task_id="task_nope")
    assert isinstance(missing, models.ErrorResponse) and missing.code == 404
    assert isinstance(balance.sync(client=client).data.balance, int | float)


@pytest.mark.slow
def test_the_generated_123api_client_submits_polls_and_downloads(server, api123_client):
    create = importlib.import_module("api123_client.api.tasks.create_image_task")
    get_task = importlib.import_module("api123_client.api.tasks.get_task")
    result_file = importlib.import_module("api123_client.api.files.result_file")
    list_models = importlib.import_module("api123_client.api.account.list_models")
    models = importlib.import_module("api123_client.models")

    client = api123_client.AuthenticatedClient(base_url=server.url, token=KEY)
    body = models.Gpt4oImageRequest.from_dict({"model": "gpt-4o-image", "prompt": "a red fox"})
    submitted = create.sync_detailed(client=client, body=body, idempotency_key="generated-client-2")
    assert submitted.status_code == 200, submitted.content
    task_id = submitted.parsed.task_id
    assert get_task.sync(task_id, client=client).status in ("queued", "processing")
    _advance_to_idle(server)
    done = get_task.sync(task_id, client=client, language="en")
    assert done.status == "completed", done
    url = done.result.url

    anonymous = api123_client.Client(base_url=server.url)
    downloaded = result_file.sync_detailed(*_file_of(url, "/v1/files/"), client=anonymous)
    assert downloaded.status_code == 200
    assert downloaded.parsed.payload.read() == httpx.get(url).content
    missing = get_task.sync("task-nope-0", client=client)
    assert missing.error == "not_found", missing
    assert "gpt-4o-image" in [m.id for m in list_models.sync(client=client).data]
