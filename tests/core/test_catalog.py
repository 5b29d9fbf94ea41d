"""The model catalog: data file, input schemas, validation messages, outputs and media."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mockserver.core.catalog import (
    KINDS,
    Catalog,
    InputInvalid,
    Model,
    load_catalog,
    read_catalog,
    schema_dir,
)
from mockserver.core.media import MediaSpec

CATALOG = load_catalog()
REQUIRED_MODELS = {
    "nano-banana",
    "nano-banana-2",
    "flux-2",
    "midjourney",
    "gpt-image-1",
    "sora-2",
    "sora-2-pro",
    "wan-2-5",
    "suno",
}
EXAMPLES = [
    pytest.param(model, example, id=f"{model.name}-{i}")
    for model in CATALOG
    for i, example in enumerate(model.schema["examples"])
]
URL = "https://example.com/img.png"


def model(name: str) -> Model:
    found = CATALOG.get(name)
    assert found is not None, name
    return found


def error(name: str, input: object) -> InputInvalid:
    with pytest.raises(InputInvalid) as info:
        model(name).validate(input)
    return info.value


# ------------------------------------------------------------------------ the catalog


def test_catalog_has_the_required_models_and_a_few_more():
    assert REQUIRED_MODELS <= set(CATALOG.names())
    assert {"veo-3-1", "seedance-2-0", "gpt-image-2", "kling-2-6"} <= set(CATALOG.names())


def test_catalog_lookup():
    assert CATALOG.names() == sorted(CATALOG.names())
    assert "sora-2" in CATALOG and "sora-3" not in CATALOG and 42 not in CATALOG
    assert CATALOG.get("sora-3") is None
    assert len(CATALOG) == len(CATALOG.names()) == len(list(CATALOG))
    assert load_catalog() is CATALOG  # parsed once


@pytest.mark.parametrize("m", list(CATALOG), ids=lambda m: m.name)
def test_every_model_is_consistent(m: Model):
    assert m.media == KINDS[m.kind]
    lo, hi = m.processing_ms
    assert 0 <= lo <= hi
    # A client that follows the guidance never gives up on a healthy task.
    assert m.pending_ms + hi < m.max_wait_ms
    assert 0 < m.poll_interval_ms <= m.initial_wait_ms < m.max_wait_ms
    assert m.price > 0
    assert m.official_only == m.name.startswith("sora-2")
    assert (m.progression, m.pending_polls, m.processing_polls) == ("time", 1, 1)


@pytest.mark.parametrize(
    ("kind", "timings"),
    [
        ("image-fast", (5000, 3000, 120000)),
        ("image-quality", (10000, 5000, 180000)),
        ("video", (60000, 15000, 600000)),
        ("audio", (30000, 10000, 300000)),
    ],
)
def test_timings_follow_the_provider_polling_guidance(kind, timings):
    # gpt-image-1's own page is more specific (20 s, then every 3 s): it wins.
    exceptions = {"gpt-image-1": (20000, 3000, 180000)}
    for m in CATALOG:
        if m.kind == kind:
            got = (m.initial_wait_ms, m.poll_interval_ms, m.max_wait_ms)
            assert got == exceptions.get(m.name, timings), m.name


def test_models_copy_for_scenario_overrides():
    original = model("gpt-image-1")
    copy = dataclasses.replace(original, pending_ms=1, price=9)
    assert (copy.pending_ms, copy.price, original.pending_ms) == (1, 9, 2000)
    with pytest.raises(InputInvalid):
        copy.validate({"mode": "gpt-image-1"})


def test_schema_dir_is_the_repo_schemas_in_a_checkout():
    assert schema_dir() == Path(__file__).resolve().parent.parent.parent / "schemas"


# ------------------------------------------------------------------------ the schemas


@pytest.mark.parametrize("m", list(CATALOG), ids=lambda m: m.name)
def test_schema_is_a_valid_2020_12_schema(m: Model):
    schema = m.schema
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://mockserver.local/schemas/models/{m.name}.json"
    assert schema["title"] and schema["description"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] and schema["examples"]
    for name in schema["required"]:
        assert name in schema["properties"]


@pytest.mark.parametrize(("m", "example"), EXAMPLES)
def test_every_example_validates_and_describes_its_results(m: Model, example: dict):
    m.validate(example)
    n = m.outputs(example)
    spec = m.output_spec(example)
    assert isinstance(spec, MediaSpec)
    assert spec.ext == {"image": "png", "video": "mp4", "audio": "wav"}[m.media]
    if m.media == "audio":
        assert spec.seconds > 0
    else:
        assert 0 < max(spec.width, spec.height) <= 256
        assert (spec.seconds > 0) == (m.media == "video")
    assert n >= 1
    assert m.cost(example) == m.price * n


def test_index_lists_exactly_the_catalog():
    index = json.loads((schema_dir() / "models" / "index.json").read_text())
    assert index == {
        "models": [{"name": m.name, "kind": m.kind, "schema": f"/schemas/models/{m.name}.json"} for m in CATALOG]
    }
    files = {p.stem for p in (schema_dir() / "models").glob("*.json")} - {"index"}
    assert files == set(CATALOG.names())


# --------------------------------------------------------------- messages for limits

# A valid input per model, with a prompt, that the limit tests below modify.
BASE = {
    "nano-banana": {"mode": "image-to-image", "prompt": "p", "image_urls": [URL]},
    "nano-banana-2": {
        "mode": "image-to-image",
        "prompt": "p",
        "image_urls": [URL],
        "aspect_ratio": "1:1",
        "resolution": "1k",
    },
    "flux-2": {"mode": "pro-image-to-image", "prompt": "ppp", "image_urls": [URL]},
    "midjourney": {"mode": "text-to-image", "prompt": "p", "image_urls": [URL]},
    "gpt-image-1": {"mode": "gpt-image-1", "prompt": "p", "image_urls": [URL]},
    "gpt-image-2": {"mode": "image-to-image", "prompt": "p", "image_urls": [URL]},
    "sora-2": {"mode": "image-to-video", "prompt": "p", "image_urls": [URL]},
    "sora-2-pro": {"mode": "image-to-video", "prompt": "p", "image_urls": [URL]},
    "wan-2-5": {"mode": "image-to-video", "prompt": "p", "image_urls": [URL]},
    "veo-3-1": {
        "mode": "fast",
        "prompt": "p",
        "generationType": "REFERENCE_2_VIDEO",
        "image_urls": [URL],
    },
    "seedance-2-0": {"mode": "omni_reference", "prompt": "p", "image_urls": [URL]},
    "kling-2-6": {"mode": "image-to-video", "prompt": "p", "sound": True, "image_urls": [URL]},
    "suno": {"mode": "V5", "customMode": False, "instrumental": False, "prompt": "p"},
}


def test_base_inputs_cover_every_model_and_are_valid():
    assert set(BASE) == set(CATALOG.names())
    for name, input in BASE.items():
        model(name).validate(input)


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("nano-banana", 5000),
        ("nano-banana-2", 20000),
        ("flux-2", 5000),
        ("midjourney", 2000),
        ("gpt-image-1", 10000),
        ("gpt-image-2", 20000),
        ("sora-2", 10000),
        ("sora-2-pro", 5000),
        ("wan-2-5", 800),
        ("veo-3-1", 10000),
        ("kling-2-6", 1000),
        ("suno", 500),  # simple mode
    ],
)
def test_prompt_length_limit(name, limit):
    model(name).validate({**BASE[name], "prompt": "x" * limit})
    e = error(name, {**BASE[name], "prompt": "x" * (limit + 1)})
    assert str(e).startswith(f"input.prompt is too long: {limit + 1} characters, at most {limit}")
    assert e.path == "input.prompt"


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("nano-banana", 5),
        ("nano-banana-2", 14),
        ("flux-2", 8),
        ("midjourney", 20),
        ("gpt-image-1", 5),
        ("gpt-image-2", 16),
        ("sora-2", 1),
        ("sora-2-pro", 1),
        ("wan-2-5", 1),
        ("veo-3-1", 3),
        ("seedance-2-0", 9),
        ("kling-2-6", 2),
    ],
)
def test_image_urls_count_limit(name, limit):
    model(name).validate({**BASE[name], "image_urls": [URL] * limit})
    e = error(name, {**BASE[name], "image_urls": [URL] * (limit + 1)})
    assert str(e) == f"input.image_urls has too many items: {limit + 1}, at most {limit}"


@pytest.mark.parametrize("name", sorted(BASE))
def test_unknown_field_is_refused(name):
    e = error(name, {**BASE[name], "colour": "red"})
    assert str(e) == "Unknown field: input.colour"
    assert e.path == "input.colour"


def test_unknown_field_suggests_the_probable_one():
    e = error("gpt-image-1", {"mode": "gpt-image-1", "prompt": "p", "aspectRatio": "1:1"})
    assert str(e) == "Unknown field: input.aspectRatio"
    assert e.hint == "did you mean input.aspect_ratio?"
    assert error("gpt-image-1", {**BASE["gpt-image-1"], "zzz": 1}).hint is None


@pytest.mark.parametrize("name", [n for n in sorted(BASE) if "prompt" in model(n).schema["required"]])
def test_missing_prompt(name):
    input = {k: v for k, v in BASE[name].items() if k != "prompt"}
    e = error(name, input)
    assert str(e) == "Missing required field: input.prompt"
    assert e.path == "input.prompt"


def test_exact_messages_for_the_common_mistakes():
    ok = {"mode": "gpt-image-1", "prompt": "p"}
    assert str(error("gpt-image-1", {**ok, "num_images": "2"})) == (
        "Invalid type for input.num_images: expected integer, got string"
    )
    assert str(error("gpt-image-1", {**ok, "num_images": 3})) == (
        "Invalid value for input.num_images: 3 is not one of 1, 2, 4"
    )
    assert str(error("gpt-image-1", {**ok, "aspect_ratio": "5:4"})) == (
        "Invalid value for input.aspect_ratio: '5:4' is not one of '1:1', '2:3', '3:2'"
    )
    assert str(error("gpt-image-1", {**ok, "mode": "dall-e-3"})) == (
        "Invalid value for input.mode: 'dall-e-3' must be 'gpt-image-1'"
    )
    e = error("gpt-image-1", {**ok, "image_urls": [URL, URL, 7]})
    assert (str(e), e.path) == (
        "Invalid type for input.image_urls[2]: expected string, got integer",
        "input.image_urls[2]",
    )
    assert str(error("gpt-image-1", {**ok, "image_urls": ["file:///etc/passwd"]})) == (
        "Invalid value for input.image_urls[0]: 'file:///etc/passwd' is not an http(s) URL"
    )
    assert str(error("gpt-image-1", {**ok, "image_urls": URL})) == (
        "Invalid type for input.image_urls: expected array, got string"
    )
    assert str(error("gpt-image-1", {**ok, "prompt": ""})) == ("input.prompt is too short: 0 characters, at least 1")
    assert str(error("kling-2-6", {**BASE["kling-2-6"], "sound": "yes"})) == (
        "Invalid type for input.sound: expected boolean, got string"
    )


@pytest.mark.parametrize("bad", [None, [], "prompt", 3, True])
def test_input_must_be_an_object(bad):
    e = error("nano-banana", bad)
    assert (str(e), e.path) == ("input must be an object", "input")


def test_long_values_are_cut_short_in_messages():
    e = error("gpt-image-1", {"mode": "gpt-image-1", "prompt": "p", "aspect_ratio": "9" * 500})
    assert len(str(e)) < 200 and "...'" in str(e)


def test_the_most_useful_error_wins():
    # Missing beats unknown beats wrong type beats bad value, whatever the order of keys.
    bodies = [
        {"mode": "gpt-image-1", "aspectRatio": "1:1", "num_images": "2", "aspect_ratio": "9:9"},
        {"aspect_ratio": "9:9", "num_images": "2", "aspectRatio": "1:1", "mode": "gpt-image-1"},
    ]
    for body in bodies:
        assert str(error("gpt-image-1", body)) == "Missing required field: input.prompt"
        body["prompt"] = "p"
        assert str(error("gpt-image-1", body)) == "Unknown field: input.aspectRatio"
        del body["aspectRatio"]
        assert str(error("gpt-image-1", body)).startswith("Invalid type for input.num_images")
        body["num_images"] = 2
        assert str(error("gpt-image-1", body)).startswith("Invalid value for input.aspect_ratio")
    # Schema order among missing fields: mode before prompt.
    assert str(error("gpt-image-1", {})) == "Missing required field: input.mode"


# ------------------------------------------------------------------ mode-dependent rules


def test_sora_2_image_to_video_needs_exactly_one_image():
    base = {"mode": "image-to-video", "prompt": "p"}
    assert str(error("sora-2", base)) == (
        "Missing required field: input.image_urls (required when input.mode is 'image-to-video')"
    )
    assert str(error("sora-2", {**base, "image_urls": []})) == ("input.image_urls has too few items: 0, at least 1")
    assert str(error("sora-2", {**base, "image_urls": [URL, URL]})) == (
        "input.image_urls has too many items: 2, at most 1"
    )
    model("sora-2").validate({**base, "image_urls": [URL]})
    model("sora-2").validate({"mode": "text-to-video", "prompt": "p"})
    assert str(error("sora-2", {**base, "image_urls": [URL], "duration": 10})) == (
        "Invalid value for input.duration: 10 is not one of 4, 8, 12"
    )
    assert str(error("sora-2", {**base, "image_urls": [URL], "aspect_ratio": "16:9"})) == (
        "Invalid value for input.aspect_ratio: '16:9' is not one of 'landscape', 'portrait'"
    )


@pytest.mark.parametrize("mode", ["pro-image-to-image", "flex-image-to-image"])
def test_flux_2_image_modes_need_one_to_eight_images(mode):
    base = {"mode": mode, "prompt": "ppp"}
    assert str(error("flux-2", base)).startswith("Missing required field: input.image_urls")
    assert "too few items: 0, at least 1" in str(error("flux-2", {**base, "image_urls": []}))
    model("flux-2").validate({**base, "image_urls": [URL] * 8})
    assert "too many items: 9, at most 8" in str(error("flux-2", {**base, "image_urls": [URL] * 9}))
    model("flux-2").validate({"mode": mode.replace("image-to", "text-to"), "prompt": "ppp"})
    assert "too short: 2 characters, at least 3" in str(error("flux-2", {**base, "prompt": "pp", "image_urls": [URL]}))


@pytest.mark.parametrize("mode", ["vary", "upscale", "enhance"])
def test_midjourney_follow_ups_need_task_id_and_image_index(mode):
    mj = model("midjourney")
    assert str(error("midjourney", {"mode": mode})) == (
        "Missing required field: input.taskId (required when input.mode is one of 'vary', 'upscale', 'enhance')"
    )
    assert str(error("midjourney", {"mode": mode, "taskId": "task_1"})).startswith(
        "Missing required field: input.imageIndex"
    )
    for index in (0, 3):
        input = {"mode": mode, "taskId": "task_1", "imageIndex": index}
        mj.validate(input)
        assert mj.follow_up(input) == ("task_1", index)
    assert str(error("midjourney", {"mode": mode, "taskId": "task_1", "imageIndex": 4})) == (
        "input.imageIndex is too large: 4, at most 3"
    )
    assert str(error("midjourney", {"mode": mode, "taskId": "", "imageIndex": 0})) == (
        "input.taskId is too short: 0 characters, at least 1"
    )
    assert str(error("midjourney", {"mode": mode, "taskId": "t", "imageIndex": "1"})) == (
        "Invalid type for input.imageIndex: expected integer, got string"
    )


def test_midjourney_reroll_needs_only_a_task_id():
    mj = model("midjourney")
    assert str(error("midjourney", {"mode": "reroll"})) == (
        "Missing required field: input.taskId (required when input.mode is 'reroll')"
    )
    mj.validate({"mode": "reroll", "taskId": "task_1"})
    assert mj.follow_up({"mode": "reroll", "taskId": "task_1"}) == ("task_1", None)
    assert mj.follow_up({"mode": "text-to-image", "prompt": "p"}) is None
    assert model("gpt-image-1").follow_up({"mode": "gpt-image-1", "taskId": "t"}) is None


def test_midjourney_generation_rules():
    assert str(error("midjourney", {"mode": "text-to-image"})).startswith(
        "Missing required field: input.prompt (required when input.mode is one of"
    )
    assert "required when input.mode is 'image-to-image'" in str(
        error("midjourney", {"mode": "image-to-image", "prompt": "p"})
    )
    edit = {"mode": "image-edit", "prompt": "p", "image_urls": [URL, URL]}
    assert str(error("midjourney", edit)) == (
        "input.image_urls has too many items: 2, at most 1 (when input.mode is 'image-edit')"
    )
    draft = {"mode": "vary", "taskId": "t", "imageIndex": 0, "speed": "draft", "version": "v7"}
    assert str(error("midjourney", draft)) == (
        "Invalid value for input.mode: 'vary' is not one of 'text-to-image', 'image-to-image' "
        "(when input.speed is 'draft')"
    )
    assert "input.version" in str(error("midjourney", {"mode": "text-to-image", "prompt": "p", "speed": "draft"}))
    model("midjourney").validate({"mode": "text-to-image", "prompt": "p", "speed": "relaxed"})


@pytest.mark.parametrize(
    ("mode", "outputs"),
    [
        ("text-to-image", 4),
        ("image-to-image", 4),
        ("image-edit", 4),
        ("vary", 4),
        ("reroll", 4),
        ("upscale", 1),
        ("enhance", 1),
    ],
)
def test_midjourney_outputs_per_mode(mode, outputs):
    mj = model("midjourney")
    assert mj.outputs({"mode": mode}) == outputs
    assert mj.cost({"mode": mode}) == mj.price * outputs


def test_suno_simple_and_custom_mode_rules():
    simple = {"mode": "V5", "customMode": False, "instrumental": False}
    assert str(error("suno", simple)) == (
        "Missing required field: input.prompt (required when input.customMode is false)"
    )
    custom = {"mode": "V5", "customMode": True, "instrumental": False, "prompt": "la la"}
    assert str(error("suno", custom)) == (
        "Missing required field: input.style (required when input.customMode is true)"
    )
    custom |= {"style": "pop", "title": "Song"}
    model("suno").validate({**custom, "prompt": "x" * 5000})
    v4 = {**custom, "mode": "V4", "prompt": "x" * 3001}
    assert str(error("suno", v4)) == (
        "input.prompt is too long: 3001 characters, at most 3000 (when input.customMode is true and input.mode is 'V4')"
    )
    assert "at most 200" in str(error("suno", {**custom, "mode": "V4", "style": "s" * 201}))
    assert "at most 80" in str(error("suno", {**custom, "title": "t" * 81}))
    instrumental = {
        "mode": "V4",
        "customMode": True,
        "instrumental": True,
        "style": "s",
        "title": "t",
    }
    model("suno").validate(instrumental)
    assert str(error("suno", {"mode": "V4"})) == "Missing required field: input.customMode"
    assert str(error("suno", {**instrumental, "styleWeight": 1.5})) == (
        "input.styleWeight is too large: 1.5, at most 1"
    )


def test_veo_reference_mode_needs_fast_and_16_9():
    ref = {"prompt": "p", "generationType": "REFERENCE_2_VIDEO", "image_urls": [URL]}
    assert str(error("veo-3-1", {**ref, "mode": "quality"})) == (
        "Invalid value for input.mode: 'quality' must be 'fast' (when input.generationType is 'REFERENCE_2_VIDEO')"
    )
    assert "'9:16' must be '16:9'" in str(error("veo-3-1", {**ref, "mode": "fast", "aspect_ratio": "9:16"}))
    frames = {"mode": "quality", "prompt": "p", "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO"}
    assert "required when input.generationType is 'FIRST_AND_LAST_FRAMES_2_VIDEO'" in str(error("veo-3-1", frames))
    assert "too many items: 3, at most 2" in str(error("veo-3-1", {**frames, "image_urls": [URL] * 3}))


def test_seedance_media_fields_depend_on_mode():
    t2v = {"mode": "text-to-video", "prompt": "p"}
    e = error("seedance-2-0", {**t2v, "video_urls": [URL]})
    assert (str(e), e.path) == (
        "input.video_urls is not allowed (when input.mode is 'text-to-video')",
        "input.video_urls",
    )
    omni = {"mode": "omni_reference", "prompt": "p", "audio_urls": [URL]}
    assert str(error("seedance-2-0", omni)) == (
        "Invalid input: audio_urls needs image_urls or video_urls beside it "
        "(when input.mode is 'omni_reference' and input.audio_urls is given)"
    )
    model("seedance-2-0").validate({**omni, "video_urls": [URL]})
    assert "at most 15" in str(error("seedance-2-0", {**t2v, "duration": 16}))
    assert "at least 4" in str(error("seedance-2-0", {**t2v, "duration": 3}))


def test_wan_4_3_needs_720p_or_more_and_text_to_video_needs_a_prompt():
    t2v = {"mode": "text-to-video", "prompt": "p", "aspect_ratio": "4:3"}
    model("wan-2-5").validate({**t2v, "resolution": "720p"})
    assert "'480p' is not one of '720p', '1080p'" in str(error("wan-2-5", {**t2v, "resolution": "480p"}))
    assert str(error("wan-2-5", {"mode": "text-to-video"})) == (
        "Missing required field: input.prompt (required when input.mode is 'text-to-video')"
    )
    model("wan-2-5").validate({"mode": "image-to-video", "image_urls": [URL]})


def test_kling_needs_the_sound_toggle():
    assert str(error("kling-2-6", {"mode": "text-to-video", "prompt": "p"})) == ("Missing required field: input.sound")


# ------------------------------------------------------------------- outputs and media


def _ratios(m: Model) -> list[str]:
    props = m.schema["properties"]
    return [v for key in ("aspect_ratio", "size") for v in props.get(key, {}).get("enum", [])]


@pytest.mark.parametrize("m", [m for m in CATALOG if m.media in ("image", "video")], ids=lambda m: m.name)
def test_every_listed_aspect_ratio_is_exact(m: Model):
    key = "size" if "size" in m.schema["properties"] else "aspect_ratio"
    named = {"landscape": Fraction(16, 9), "portrait": Fraction(9, 16)}
    for value in _ratios(m):
        if value == "auto":
            continue
        spec = m.output_spec({key: value})
        if value in named:
            want = named[value]
        else:
            a, b = value.replace("*", ":").split(":")
            want = Fraction(int(a), int(b))
        assert Fraction(spec.width, spec.height) == want, (m.name, value, spec)
        assert max(spec.width, spec.height) <= 256


def test_image_size_examples():
    assert model("gpt-image-1").output_spec({"aspect_ratio": "3:2"}) == MediaSpec("png", 255, 170)
    spec = model("nano-banana").output_spec({"aspect_ratio": "3:2"})
    assert spec.width / spec.height == 1.5
    assert model("gpt-image-1").output_spec({}) == MediaSpec("png", 256, 256)  # default 1:1
    # auto: the schema default when it is a ratio, else square.
    assert model("nano-banana").output_spec({"aspect_ratio": "auto"}) == MediaSpec("png", 256, 256)
    assert model("flux-2").output_spec({"aspect_ratio": "auto"}) == MediaSpec("png", 256, 256)


def test_video_and_audio_specs():
    assert model("sora-2").output_spec({"aspect_ratio": "portrait", "duration": 8}) == MediaSpec("mp4", 144, 256, 8.0)
    assert model("sora-2").output_spec({}) == MediaSpec("mp4", 256, 144, 4.0)
    assert model("sora-2-pro").output_spec({"size": "720*1280", "duration": 12}) == MediaSpec("mp4", 144, 256, 12.0)
    assert model("veo-3-1").output_spec({"aspect_ratio": "auto"}) == MediaSpec("mp4", 256, 144, 8.0)
    assert model("seedance-2-0").output_spec({"aspect_ratio": "21:9"}) == MediaSpec("mp4", 252, 108, 5.0)
    assert model("suno").output_spec({"mode": "V5"}) == MediaSpec("wav", seconds=30.0)


def test_outputs_and_cost():
    gpt = model("gpt-image-1")
    assert [gpt.outputs({"num_images": n}) for n in (1, 2, 4)] == [1, 2, 4]
    assert gpt.outputs({}) == 1
    assert gpt.cost({"num_images": 4}) == 4 * gpt.price == 16.0
    assert model("nano-banana").cost({}) == 2.0
    assert model("sora-2").cost({}) == 30.0
    assert model("suno").outputs({}) == 2
    assert model("suno").cost({}) == 2 * model("suno").price


# ------------------------------------------------------------------------- the loader


def _write(tmp_path: Path, entry: dict, schema: dict | None = None) -> tuple[Path, Path]:
    data = tmp_path / "models.yaml"
    data.write_text(json.dumps({"models": {"toy": entry}}))  # JSON is YAML
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    toy_schema = {"type": "object", "properties": {"prompt": {"type": "string"}}}
    (schemas / "toy.json").write_text(json.dumps(schema or toy_schema))
    return data, schemas


TOY = {
    "kind": "image-fast",
    "media": "image",
    "official_only": False,
    "pending_ms": 1000,
    "processing_ms": [1000, 2000],
    "initial_wait_ms": 5000,
    "poll_interval_ms": 3000,
    "max_wait_ms": 120000,
    "price": 1,
}


def test_loader_reads_a_minimal_model(tmp_path):
    catalog = read_catalog(*_write(tmp_path, TOY))
    assert isinstance(catalog, Catalog) and catalog.names() == ["toy"]
    toy = catalog.get("toy")
    assert toy is not None and toy.outputs({}) == 1 and toy.follow_up({}) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": 1}, "toy: unknown key 'colour'"),
        ({"kind": "image"}, "toy: kind must be one of"),
        ({"media": "video"}, "toy: a image-fast model has image media"),
        ({"processing_ms": [3000, 2000]}, "toy: processing_ms needs 0 <= lo <= hi"),
        ({"processing_ms": 2000}, "toy: processing_ms must be [lo, hi]"),
        ({"pending_ms": -1}, "toy: pending_ms must be a non-negative integer"),
        ({"processing_ms": [1000, 119000]}, "must stay below max_wait_ms"),
        ({"outputs": {"upscale": 1}}, "toy: outputs by mode needs"),
        ({"outputs": 0}, "toy: outputs must be a positive integer"),
    ],
)
def test_loader_refuses_bad_data(tmp_path, change, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        read_catalog(*_write(tmp_path, {**TOY, **change}))


def test_loader_refuses_a_missing_key(tmp_path):
    entry = {k: v for k, v in TOY.items() if k != "price"}
    with pytest.raises(ValueError, match="toy: missing key 'price'"):
        read_catalog(*_write(tmp_path, entry))


def test_loader_refuses_a_model_without_schema(tmp_path):
    data, schemas = _write(tmp_path, TOY)
    (schemas / "toy.json").unlink()
    with pytest.raises(ValueError, match="toy: no input schema"):
        read_catalog(data, schemas)


def test_loader_refuses_an_invalid_schema(tmp_path):
    with pytest.raises(ValueError, match="toy: invalid input schema toy.json: 'objekt' is not valid"):
        read_catalog(*_write(tmp_path, TOY, {"type": "objekt"}))


def _recorder():
    """scripts/record_checked_schemas.py, imported."""
    import importlib.util

    script = Path(__file__).resolve().parent.parent.parent / "scripts" / "record_checked_schemas.py"
    spec = importlib.util.spec_from_file_location("record_checked_schemas", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recorded_schema_digests_are_every_bundled_model_schema_and_each_passes_the_meta_schema():
    from mockserver.core.catalog import CHECKED_SCHEMAS, schema_digest
    from mockserver.dialects.api123.models import load_catalog as load_123api

    recorder = _recorder()
    files = recorder.bundled_schemas()
    names = {(f.parent.parent.name, f.stem) for f in files}
    assert names == {("schemas", m) for m in CATALOG.names()} | {("123api", m) for m in load_123api().names()}
    for f in files:  # the verdict a recorded digest stands for, checked again here
        Draft202012Validator.check_schema(json.loads(f.read_text(encoding="utf-8")))
    recorded = CHECKED_SCHEMAS.read_text(encoding="utf-8")
    assert recorded == recorder.render(), "out of date: run python scripts/record_checked_schemas.py"
    assert {schema_digest(f.read_text(encoding="utf-8")) for f in files} <= set(recorded.split())


def test_libyaml_reads_each_bundled_data_file_as_the_python_loader_does():
    import yaml

    from mockserver.core import catalog

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without libyaml: read_catalog uses the Python loader")
    package = Path(catalog.__file__).parent.parent
    for path in (package / "core" / "models.yaml", package / "dialects" / "api123" / "models.yaml"):
        text = path.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.load(text, Loader=yaml.SafeLoader), path


def test_a_models_validator_is_compiled_at_its_first_input_and_shared_by_its_copies(monkeypatch):
    import jsonschema

    from mockserver.core import catalog

    compiled: list[dict] = []
    real = jsonschema.Draft202012Validator

    def counting(schema, *args, **kwargs):
        compiled.append(schema)
        return real(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema, "Draft202012Validator", counting)
    fresh = read_catalog(Path(catalog.__file__).with_name("models.yaml"), schema_dir() / "models")
    assert compiled == []  # loading compiles nothing
    model = fresh.get("nano-banana")
    copies = [model.clone(), dataclasses.replace(model)]
    with pytest.raises(InputInvalid, match="Unknown field: input.aspectRatio"):
        copies[0].validate({"mode": "text-to-image", "prompt": "a", "aspectRatio": "1:1"})
    copies[1].validate({"mode": "text-to-image", "prompt": "a"})
    model.validate({"mode": "text-to-image", "prompt": "b"})
    assert compiled == [model.schema]


def test_only_a_recorded_schema_text_skips_the_meta_schema_check(tmp_path, monkeypatch):
    import shutil

    from mockserver.core import catalog

    checked: list[dict] = []
    real = Draft202012Validator.check_schema

    def counting(schema, *args, **kw):
        checked.append(schema)
        return real(schema, *args, **kw)

    monkeypatch.setattr(Draft202012Validator, "check_schema", counting)
    bundled = Path(catalog.__file__).with_name("models.yaml")
    assert len(read_catalog(bundled, schema_dir() / "models")) == len(CATALOG) and checked == []
    # A user's own schema is checked; so is a bundled one whose text changed by one byte.
    (tmp_path / "toy").mkdir()
    read_catalog(*_write(tmp_path / "toy", TOY))
    assert [s.get("type") for s in checked] == ["object"]
    shutil.copytree(schema_dir() / "models", tmp_path / "models")
    edited = tmp_path / "models" / "nano-banana.json"
    edited.write_text(edited.read_text(encoding="utf-8") + " ", encoding="utf-8")
    checked.clear()
    read_catalog(bundled, tmp_path / "models")
    assert [s["$id"] for s in checked] == ["https://mockserver.local/schemas/models/nano-banana.json"]


def test_without_the_record_every_schema_is_checked(monkeypatch, tmp_path):
    from mockserver.core import catalog

    checked: list[dict] = []
    monkeypatch.setattr(Draft202012Validator, "check_schema", checked.append)
    monkeypatch.setattr(catalog, "CHECKED_SCHEMAS", tmp_path / "no-such-file.txt")
    catalog._checked_digests.cache_clear()
    try:
        read_catalog(Path(catalog.__file__).with_name("models.yaml"), schema_dir() / "models")
    finally:
        catalog._checked_digests.cache_clear()
    assert len(checked) == len(CATALOG)


def test_poll_progression_can_be_set_per_model_in_the_data_file(tmp_path):
    import shutil

    from mockserver.core.catalog import load_catalog, read_catalog, schema_dir

    src = (Path(__file__).parent.parent.parent / "mockserver" / "core" / "models.yaml").read_text()
    data = src.replace(
        "  nano-banana:\n",
        "  nano-banana:\n    progression: polls\n    pending_polls: 2\n    processing_polls: 3\n",
        1,
    )
    (tmp_path / "models.yaml").write_text(data)
    shutil.copytree(schema_dir() / "models", tmp_path / "models")
    model = read_catalog(tmp_path / "models.yaml", tmp_path / "models").get("nano-banana")
    assert (model.progression, model.pending_polls, model.processing_polls) == ("polls", 2, 3)
    assert load_catalog().get("nano-banana").progression == "time"
    bad = src.replace("  nano-banana:\n", "  nano-banana:\n    progression: sometimes\n", 1)
    (tmp_path / "models.yaml").write_text(bad)
    with pytest.raises(ValueError, match="progression"):
        read_catalog(tmp_path / "models.yaml", tmp_path / "models")


def test_validation_work_is_bounded_whatever_the_input_size():
    """Issue 17: 300,000 image_urls built 300,000 validation errors (12 s, 418 MB)."""
    from mockserver.core.catalog import MAX_ERRORS

    seen: list[object] = []
    pulled = [0]

    class Spy:
        def __init__(self, validator) -> None:
            self.validator = validator

        def iter_errors(self, instance):
            seen.append(instance)
            for error in self.validator.iter_errors(instance):
                pulled[0] += 1
                yield error

    base = load_catalog().get("nano-banana")
    base.validate(json.loads(json.dumps(base.schema["examples"][0])))  # compiles the validator
    model = dataclasses.replace(base, _validator=Spy(base._validator))
    with pytest.raises(InputInvalid, match=r"input.image_urls has too many items: 300000, at most 5"):
        model.validate({"mode": "text-to-image", "prompt": "x", "image_urls": ["http://a/b"] * 300_000})
    assert len(seen[-1]["image_urls"]) == 6  # validated cut to the limit + 1
    pulled[0] = 0
    with pytest.raises(InputInvalid):
        model.validate(
            {"mode": "text-to-image", "prompt": "x", "bad": [1] * 300_000, **{f"k{i}": 1 for i in range(150)}}
        )
    assert pulled[0] <= MAX_ERRORS
    with pytest.raises(InputInvalid, match="input has 50001 fields; at most 200 are read"):
        model.validate({f"k{i}": 1 for i in range(50_001)})


def test_a_catalog_whose_fields_are_the_body_own_names_them_bare():
    """123API has no `input` object: its models' messages name `size`, not `input.size`."""
    from mockserver.dialects.api123.models import load_catalog as load_123

    model = load_123().get("gpt-4o-image")
    assert model is not None and model.root == ""
    body = {"model": "gpt-4o-image", "prompt": "x"}
    cases = {
        "Missing required field: prompt": {"model": "gpt-4o-image"},
        "Unknown field: sizes": {**body, "sizes": "1:1"},
        "n is too large: 9, at most 4": {**body, "n": 9},
        "Invalid value for image_urls[1]: 'ftp://x' is not an http(s) URL": {
            **body,
            "image_urls": ["https://a/b.png", "ftp://x"],
        },
    }
    for message, bad in cases.items():
        with pytest.raises(InputInvalid) as caught:
            model.validate(bad)
        assert str(caught.value) == message
    with pytest.raises(InputInvalid, match="^the body must be an object$"):
        model.validate([])
    # n is the number of result files, and of what the task costs.
    assert model.outputs({**body, "n": 3}) == 3 and model.cost({**body, "n": 3}) == 3 * model.price
    assert model.outputs(body) == 1


def test_published_patterns_read_alike_in_json_schema_and_python():
    """Every published pattern means the same in ECMA-262 (JSON Schema's regex dialect: what
    Schemathesis, Prism and browsers use) and in Python's re (what the mock checks with), so a
    value one accepts the other does too. \\s, \\S, \\d and \\w differ between them (Python's
    count U+001C-U+001F, U+0085 and non-ASCII digits, ECMA-262's count U+FEFF): none is used.

    Python's ``$`` also matches before a final newline ("abc\\n" keeps ``^[a-z]+$``), ECMA-262's
    does not: every pattern ends ``$(?!\\n)``, which both read as "the end"; Hypothesis's
    ``from_regex`` (what schema-based generators use) then draws no trailing newline either.
    """
    import re
    import shutil
    import subprocess

    from mockserver.core.catalog import URL_PATTERN

    patterns: set[str] = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.add(node["pattern"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for path in schema_dir().rglob("*.json"):
        collect(json.loads(path.read_text()))
    assert URL_PATTERN in patterns
    assert [p for p in patterns if re.search(r"\\[sSdwW]", p)] == []
    assert [p for p in patterns if p.endswith("$")] == []  # "$(?!\n)": no match before a final newline
    # Every character at the end of a URL (or a word), through U+3100 and the specials.
    chars = [chr(c) for c in [*range(0x3100), 0xFEFF, 0xFFFD]]
    samples = [f"https://a/{c}" for c in chars] + [f"a{c}" for c in chars]
    # Inline flags ((?i:...)) are Python's; ECMA-262 engines may lack them: the scenario schema's
    # header names, which only Python reads.
    portable = sorted(p for p in patterns if not re.search(r"\(\?[a-zA-Z]", p))
    python = {p: [bool(re.search(p, s)) for s in samples] for p in portable}
    assert not python[URL_PATTERN][0x1C] and not python[URL_PATTERN][0x85] and python[URL_PATTERN][ord("x")]
    if shutil.which("node") is None:
        pytest.skip("needs Node.js to compare with ECMA-262")
    script = (
        "const [ps, s] = JSON.parse(require('fs').readFileSync(0));"
        "const test = p => { const r = new RegExp(p, 'u'); return s.map(x => r.test(x)); };"
        "process.stdout.write(JSON.stringify(ps.map(test)));"
    )
    done = subprocess.run(
        ["node", "-e", script], input=json.dumps([portable, samples]), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    ecma = dict(zip(portable, json.loads(done.stdout), strict=True))
    differ = {
        p: [hex(ord(s[-1])) for s, a, b in zip(samples, python[p], ecma[p], strict=True) if a != b][:5]
        for p in portable
    }
    assert {p: d for p, d in differ.items() if d} == {}


# ------------------------------------------------------------- remembered verdicts


def _counting_model(schema: dict | None = None) -> tuple[Model, list[object]]:
    """A copy of nano-banana (or with ``schema``) whose validator counts the inputs it judges."""
    base = CATALOG.get("nano-banana")
    assert base is not None
    schema = schema or base.schema
    judged: list[object] = []

    class Counting:
        def __init__(self) -> None:
            self.inner = Draft202012Validator(schema)

        def iter_errors(self, instance):
            judged.append(instance)
            return self.inner.iter_errors(instance)

    model = dataclasses.replace(base, schema=schema, _validator=Counting(), _valid={})  # type: ignore[arg-type]
    return model, judged


def test_a_valid_input_seen_before_is_not_validated_again():
    model, judged = _counting_model()
    model.validate({"mode": "text-to-image", "prompt": "a"})
    model.validate({"prompt": "a", "mode": "text-to-image"})  # the same value, keys in another order
    assert len(judged) == 1
    model.validate({"mode": "text-to-image", "prompt": "b"})
    assert len(judged) == 2


def test_invalid_inputs_are_judged_every_time_with_the_same_message():
    model, judged = _counting_model()
    bad = {"mode": "text-to-image", "prompt": "a", "aspectRatio": "1:1"}
    messages = []
    for _ in range(2):
        with pytest.raises(InputInvalid) as exc:
            model.validate(bad)
        messages.append((str(exc.value), exc.value.path, exc.value.hint))
    assert len(judged) == 2 and messages[0] == messages[1]
    assert messages[0][0] == "Unknown field: input.aspectRatio"


def test_a_remembered_verdict_tells_apart_what_equal_json_text_would_not():
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "urls": {"type": "array"}},
        "additionalProperties": False,
    }
    model, judged = _counting_model(schema)
    model.validate({"n": 1, "urls": ["x"]})
    # Each of these is equal to it in Python, or has its JSON text: each is judged afresh.
    for other in ({"n": True, "urls": ["x"]}, {"n": 1, "urls": ("x",)}):
        with pytest.raises(InputInvalid):
            model.validate(other)
    model.validate({"n": 1.0, "urls": ["x"]})  # 1.0 is an integer to JSON Schema
    assert len(judged) == 4
    model, judged = _counting_model({"type": "object", "properties": {"1": {"type": "string"}}})
    model.validate({1: 2})  # a key that is no string: its text ('{"1":2}') must not answer for...
    with pytest.raises(InputInvalid, match="Invalid type for input"):
        model.validate({"1": 2})  # ...this one, which is refused
    assert len(judged) == 2


def test_remembered_verdicts_are_bounded():
    from mockserver.core.catalog import MAX_VERDICTS, VERDICT_KEY_CHARS

    model, judged = _counting_model()
    for i in range(MAX_VERDICTS + 10):
        model.validate({"mode": "text-to-image", "prompt": f"p{i}"})
    assert len(model._valid) == MAX_VERDICTS
    model.validate({"mode": "text-to-image", "prompt": "p0"})  # the oldest went first
    assert len(judged) == MAX_VERDICTS + 11
    long = {"mode": "text-to-image", "prompt": "x" * VERDICT_KEY_CHARS}
    model.validate(long)
    model.validate(long)
    assert len(judged) == MAX_VERDICTS + 13  # too long to remember


def test_a_clone_is_what_dataclasses_replace_makes_and_its_own_object():
    for model in CATALOG:
        copy, reference = model.clone(), dataclasses.replace(model)
        assert type(copy) is Model and copy is not model
        for f in dataclasses.fields(Model):
            # The same objects, not copies of them: the schema, the validator and the verdicts are shared.
            assert getattr(copy, f.name) is getattr(reference, f.name) is getattr(model, f.name), f.name
        copy.pending_ms += 1
        assert model.pending_ms == reference.pending_ms
