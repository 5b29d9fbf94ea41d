"""Bad input never crashes the mock and never yields a 500: fuzzed bodies, paths and headers."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.core.catalog import load_catalog

MODELS = load_catalog().names()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
fields = st.sampled_from(["request_type", "callback_url", "provider", "input", "mode", "prompt"])
bodies = st.one_of(
    json_values,
    st.dictionaries(fields, json_values, max_size=4),
    st.builds(
        lambda i: {"input": i},
        st.dictionaries(
            st.sampled_from(
                [
                    "mode",
                    "prompt",
                    "aspect_ratio",
                    "num_images",
                    "image_urls",
                    "duration",
                    "taskId",
                    "imageIndex",
                ]
            ),
            json_values,
            max_size=5,
        ),
    ),
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(model=st.sampled_from([*MODELS, "nope", "%2e%2e"]), body=bodies)
def test_submit_never_500(api, model, body):
    r = api.client.post(f"/api/v1/generateTask/{model}", content=json.dumps(body), headers=api.headers())
    assert r.status_code in (200, 400, 402, 404, 409, 413), r.text
    assert r.json()["code"] == r.status_code


@FUZZ
@given(raw=st.binary(max_size=200))
def test_raw_bytes_never_500(api, raw):
    r = api.client.post("/api/v1/generateTask/nano-banana", content=raw, headers=api.headers())
    assert r.status_code == 400 or r.status_code == 200, r.text


@FUZZ
@given(
    path=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?#%"),
        max_size=40,
    ),
    task_id=st.text(max_size=30),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
)
def test_paths_and_queries_never_500(api, path, task_id, method):
    for url in (f"/{path}", f"/api/v1/statusTask/{path}", f"/files/{path}"):
        r = api.client.request(method, url, params={"taskId": task_id}, headers=api.headers())
        assert r.status_code < 500, (method, url, r.text)


def test_schemas_are_served(api):
    index = api.client.get("/schemas/models/index.json")
    assert index.status_code == 200
    names = [m["name"] for m in index.json()["models"]]
    assert sorted(names) == sorted(MODELS)
    for m in index.json()["models"]:
        r = api.client.get(m["schema"])
        assert r.status_code == 200 and r.json()["$schema"].startswith("https://json-schema.org/draft/2020-12")
    listing = api.client.get("/schemas/").json()["schemas"]
    assert {"name": "models/index.json", "url": "/schemas/models/index.json"} in listing
    assert api.client.get("/schemas/../pyproject.toml").status_code == 404
    assert api.client.get("/schemas/models/nope.json").status_code == 404
