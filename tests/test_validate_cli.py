"""`mockserver validate`: exit 0 valid, 1 invalid (each problem with its JSON path), 2 unusable."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mockserver.cli import main
from tests.conftest import data_of

SUCCESS = {
    "code": 200,
    "message": "success",
    "data": {"taskId": "task_1", "state": "processing", "createTime": 1767965610929},
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_document_exits_0(tmp_path, capsys):
    path = tmp_path / "status.json"
    path.write_text(json.dumps(SUCCESS))
    assert run(capsys, "--schema", "status-response", str(path)) == (
        0,
        f"{path}: valid (status-response)\n",
        "",
    )


def test_invalid_document_exits_1_listing_each_problem_with_its_path(tmp_path, capsys):
    doc = {**SUCCESS, "data": {**SUCCESS["data"], "state": "success", "costTime": "4"}}
    path = tmp_path / "status.json"
    path.write_text(json.dumps(doc))
    code, out, err = run(capsys, "--schema", "status-response.json", str(path))
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"{path}: 3 problems (status-response)"
    rule = "[status-response.json#/$defs/success"
    assert lines[1:] == [
        f"  $.data.completeTime: missing required field  {rule}/required]",
        f"  $.data.costTime: '4' is not of type 'integer'  {rule}/properties/costTime/type]",
        f"  $.data.resultJson: missing required field  {rule}/required]",
    ]


def test_a_model_input_and_a_composed_request(tmp_path, capsys):
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"input": {"mode": "gpt-image-1", "prompt": "x", "aspect_ratio": "16:9"}}))
    code, out, _ = run(capsys, "--schema", "generate-request", "--model", "gpt-image-1", str(path))
    assert code == 1 and "$.input.aspect_ratio: '16:9' is not one of ['1:1', '2:3', '3:2']" in out
    assert run(capsys, "--schema", "generate-request", str(path))[0] == 0
    path.write_text(json.dumps({"mode": "gpt-image-1", "prompt": "x"}))
    assert run(capsys, "--schema", "models/gpt-image-1", str(path))[0] == 0


def test_a_recorded_response_from_the_mock(api, tmp_path, capsys):
    tid = api.submit_ok()
    api.advance(to="idle")
    r = api.status("nano-banana", tid)
    assert data_of(r)["state"] == "success"
    path = tmp_path / "recorded.json"
    path.write_bytes(r.content)
    assert run(capsys, "--schema", "status-response", str(path))[0] == 0
    assert run(capsys, "--schema", "generate-response", str(path))[0] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--schema", "status-respons", "X"],
            "no schema named 'status-respons'; did you mean status-response?",
        ),
        (
            ["--schema", "error", "/no/such/file.json"],
            "cannot read /no/such/file.json: No such file or directory",
        ),
        (["--schema", "error", "NOTJSON"], "bad.json is not JSON: Expecting property name"),
        (
            ["--schema", "error", "--model", "nano-banana", "X"],
            "--model applies to generate-request only",
        ),
        (["--schema", "generate-request", "--model", "nope", "X"], "no model named 'nope'"),
    ],
)
def test_unusable_input_exits_2(tmp_path, capsys, argv, message):
    doc = tmp_path / "doc.json"
    doc.write_text("{}")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    argv = [str(doc) if a == "X" else str(bad) if a == "NOTJSON" else a for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("mockserver validate: error: ") and message in err


def test_yaml_files_are_read_as_yaml(tmp_path, capsys):
    path = tmp_path / "error.yaml"
    path.write_text("code: 404\nmessage: Not found\ndata: null\n")
    assert run(capsys, "--schema", "error", str(path))[0] == 0
    path.write_text("code: [\n")
    code, _, err = run(capsys, "--schema", "error", str(path))
    assert code == 2 and "neither JSON nor YAML" in err


def test_a_scenario_reads_yaml_from_stdin_too_in_the_words_serve_uses(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("name: x\nseed: seven\n"))
    code, out, _ = run(capsys, "--schema", "scenario", "-")
    assert code == 1
    assert out.splitlines() == ["stdin: 1 problem (scenario)", "  seed: expected integer, got string 'seven'"]


def test_the_real_command_reads_stdin():
    proc = subprocess.run(
        [sys.executable, "-m", "mockserver", "validate", "--schema", "error", "-"],
        input='{"code": 429, "message": "Slow down", "data": null}',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "stdin: 1 problem (error)",
        "  $.retryAfter: missing required field  [error.json#/then/required]",
    ]


def test_the_docs_example_prints_what_the_docs_say(tmp_path):
    from mockserver.http.app import create_app
    from mockserver.http.server import ServerThread
    from tests.docs_blocks import ROOT, block, run_shell

    # `mockserver` as the installed command would be, from this checkout.
    shim = f'mockserver() {{ PYTHONPATH={ROOT} {sys.executable} -m mockserver "$@"; }}\n'
    with ServerThread(create_app()) as server:
        out = run_shell(shim + block("validate").code, server.url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == block("validate-output").code


# ------------------------------------------------------------------------------- 123API


def test_123api_schemas_a_body_and_a_recorded_task_with_the_schema_as_first_argument(tmp_path, capsys):
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"model": "gpt-4o-image", "prompt": "a fox", "size": "9:9", "zz": 1}))
    code, out, err = run(capsys, "123api/models/gpt-4o-image", str(body))
    assert (code, err) == (1, "")
    rule = "[123api/models/gpt-4o-image.json#"
    assert out.splitlines() == [
        f"{body}: 2 problems (123api/models/gpt-4o-image)",
        "  $.size: '9:9' is not one of ['1:1', '2:3', '3:2', '1024x1024', '1024x1536', '1536x1024']  "
        f"{rule}/properties/size/enum]",
        f"  $.zz: unexpected field (allowed: model, prompt, size, n, image_urls)  {rule}/additionalProperties]",
    ]
    body.write_text(json.dumps({"model": "gpt-4o-image", "prompt": "a fox"}))
    assert run(capsys, "123api/models/gpt-4o-image", str(body)) == (
        0,
        f"{body}: valid (123api/models/gpt-4o-image)\n",
        "",
    )
    # The rule beside the schema: result.url is the first of result.urls.
    doc = tmp_path / "doc.json"
    urls = ["http://127.0.0.1:8000/v1/files/task-1/0.png", "http://127.0.0.1:8000/v1/files/task-1/1.png"]
    task = {
        "task_id": "task-1",
        "status": "completed",
        "model": "gpt-4o-image",
        "result": {"url": urls[1], "urls": urls},
    }
    doc.write_text(json.dumps(task))
    code, out, _ = run(capsys, "--schema", "123api/status-response", str(doc))
    assert (
        code == 1
        and out.splitlines()[1] == f"  $.result.url: {urls[1]!r} is not the first of result.urls ({urls[0]!r})"
    )


def test_a_recorded_123api_answer_from_the_mock(make_api, tmp_path, capsys):
    api = make_api(dialects="123api")
    submit = api.client.post(
        "/v1/images/generations", json={"model": "gpt-4o-image", "prompt": "a fox"}, headers=api.headers()
    )
    api.advance(to="idle")
    task = api.client.get(f"/v1/tasks/{submit.json()['task_id']}", headers=api.headers())
    unknown = api.client.get("/v1/tasks/task-nope-0", headers=api.headers())
    for schema, r in (("123api/submit-response", submit), ("123api/status-response", task), ("123api/error", unknown)):
        path = tmp_path / "recorded.json"
        path.write_bytes(r.content)
        assert run(capsys, schema, str(path))[0] == 0, r.text
    assert run(capsys, "status-response", str(tmp_path / "recorded.json"))[0] == 1  # APIXO's is not 123API's


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["models/gpt-4o-image", "X"],
            "no schema named 'models/gpt-4o-image'; did you mean 123api/models/gpt-4o-image,",
        ),
        (["gpt-4o-image", "X"], "did you mean 123api/models/gpt-4o-image?"),
        (
            ["--schema", "123api/models/sora-2", "--model", "sora-2", "X"],
            "--model applies to generate-request only, not '123api/models/sora-2' (a submit body of a model's own "
            "schema needs no --model; 123API's: --schema 123api/models/MODEL)",
        ),
        (["X"], "give one schema (--schema NAME, or as the first argument) and one FILE"),
        (["--schema", "error", "123api/error", "X"], "give one schema"),
    ],
)
def test_123api_names_that_cannot_be_used_say_what_to_use(tmp_path, capsys, argv, message):
    doc = tmp_path / "doc.json"
    doc.write_text("{}")
    code, out, err = run(capsys, *[str(doc) if a == "X" else a for a in argv])
    assert (code, out) == (2, "") and err.startswith("mockserver validate: error: ") and message in err, err
