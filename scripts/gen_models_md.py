"""Write docs/models.md, the model reference, from the catalogs and model schemas of both dialects.

    python scripts/gen_models_md.py           # rewrite docs/models.md
    python scripts/gen_models_md.py --check   # exit 1 when docs/models.md is out of date

Everything on the page comes from the files the mock itself loads: each dialect's models.yaml (its
comments are where the numbers come from) and each model's JSON schema (fields, limits, the
if/then rules per mode, the examples). tests/test_models_doc.py fails when the checked-in page
differs from what this prints, and submits every example body on the page to the mock.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mockserver
from mockserver.core import catalog as apixo_catalog
from mockserver.core.catalog import DEFAULT_SECONDS, URL_PATTERN, InputInvalid, Model
from mockserver.dialects.api123 import models as api123_models
from mockserver.dialects.api123.wire import ROUTE_MEDIA
from mockserver.dialects.apixo.wire import GENERATE_PATH
from mockserver.dialects.protocol import Dialect

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "models.md"
COMMAND = "python scripts/gen_models_md.py"
FILE_WORDS = {"image": "image", "video": "video", "audio": "track"}


@dataclass(frozen=True)
class Source:
    """What the page needs of one dialect beyond its catalog: where its numbers and schemas live,
    the route a model is submitted to, and how an example input becomes a whole submit body."""

    dialect: Dialect
    data_file: Path  # the models.yaml whose comments say where the numbers come from
    schema_dir: str  # repo-relative folder of the model schemas
    route: Callable[[Model], str]
    body: Callable[[dict], dict]
    intro: str


def sources() -> list[Source]:
    from mockserver.dialects import builtin

    dialects = builtin()
    by_media = {media: path for path, media in ROUTE_MEDIA.items()}
    return [
        Source(
            dialect=dialects["apixo"],
            data_file=Path(apixo_catalog.__file__).with_name("models.yaml"),
            schema_dir="schemas/models",
            route=lambda m: GENERATE_PATH.format(model=m.name),
            body=lambda example: {"input": example},
            intro=(
                f'Submit `POST {GENERATE_PATH}` with the body `{{"input": {{...}}}}`; the fields below are '
                "those of `input`. The body may also carry `request_type`, `callback_url` and `provider` "
                "([schemas/generate-request.json](../schemas/generate-request.json))."
            ),
        ),
        Source(
            dialect=dialects["123api"],
            data_file=Path(api123_models.__file__).with_name("models.yaml"),
            schema_dir="schemas/123api/models",
            route=lambda m: by_media[m.media],
            body=lambda example: example,
            intro=(
                "The body names the model and holds its fields itself (there is no `input` object). "
                + "; ".join(f"{media} models go to `POST {path}`" for path, media in sorted(ROUTE_MEDIA.items()))
                + ". The rest of the dialect: [docs/123api.md](123api.md)."
            ),
        ),
    ]


# ------------------------------------------------------------------------------ models.yaml comments


def yaml_comments(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """(the header's paragraphs, each model's comment lines) of a models.yaml."""
    header: list[list[str]] = [[]]
    models: dict[str, list[str]] = {}
    current: str | None = None
    in_models = False
    for line in text.splitlines():
        if not in_models:
            if line.startswith("models:"):
                in_models = True
            elif line.startswith("#"):
                body = line[1:].strip()
                if body:
                    header[-1].append(body)
                elif header[-1]:
                    header.append([])
            continue
        key = re.fullmatch(r"  ([^\s#][^:]*):\s*", line)
        if key:
            current = key[1].strip().strip("\"'")
            models[current] = []
        elif current is not None and re.match(r"\s{4,}#", line):
            models[current].append(line.strip()[1:].strip())
    # "Keys per model" documents the file format, not where a number comes from.
    paragraphs = [" ".join(p) for p in header if p and not p[0].startswith("Keys per model")]
    return paragraphs, models


# ---------------------------------------------------------------------------------- formatting


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def prose(text: str) -> str:
    """Text from a schema or a YAML comment, safe in Markdown: outside `code`, <, * and $ stay literal."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace("*", "\\*").replace("$", "\\$").replace("~", "\\~")
    return "`".join(parts)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


def values(items: list) -> str:
    return ", ".join(code(v) for v in items)


def duration(ms: int) -> str:
    if ms == 0:
        return "0 s"
    if ms >= 60000 and ms % 60000 == 0:
        return f"{ms // 60000} min"
    if ms % 1000 == 0:
        return f"{ms // 1000} s"
    return f"{ms} ms"


def span(lo: int, hi: int) -> str:
    if lo == hi:
        return duration(lo)
    if lo % 60000 == 0 and hi % 60000 == 0 and lo:
        return f"{lo // 60000}–{hi // 60000} min"
    if lo % 1000 == 0 and hi % 1000 == 0:
        return f"{lo // 1000}–{hi // 1000} s"
    return f"{lo}–{hi} ms"


def number(value: float) -> str:
    return f"{value:g}"


def count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def between(lo: Any, hi: Any, unit: str) -> str:
    """'1–5 items', 'at most 500 characters', 'exactly 1 item'."""
    if lo is not None and hi is not None:
        if lo == hi:
            return "exactly " + count(lo, unit)
        if lo > 0:
            return f"{lo}–{hi} {unit}s"
    if hi is not None:
        return "at most " + count(hi, unit)
    if lo:
        return "at least " + count(lo, unit)
    return ""


# ------------------------------------------------------------------------------------- fields


def type_of(prop: Any) -> str:
    if prop is False:
        return "not allowed"
    kind = prop.get("type")
    if kind is None and "const" in prop:
        kind = {str: "string", bool: "boolean", int: "integer", float: "number"}.get(type(prop["const"]), "any")
    if kind == "array":
        items = prop.get("items", {})
        return f"array of {items.get('type', 'any')}" if isinstance(items, dict) else "array"
    if isinstance(kind, list):
        return " or ".join(kind)
    return kind or "any"


def limits(prop: Any) -> list[str]:
    """The constraints of one property schema, in words."""
    if prop is False:
        return ["not allowed"]
    out = []
    if "const" in prop:
        out.append(f"must be {code(prop['const'])}")
    if "enum" in prop:
        out.append(f"one of {values(prop['enum'])}")
    lo, hi = prop.get("minimum"), prop.get("maximum")
    if lo is not None and hi is not None:
        out.append(f"{lo} to {hi}")
    elif lo is not None:
        out.append(f"at least {lo}")
    elif hi is not None:
        out.append(f"at most {hi}")
    if text := between(prop.get("minLength"), prop.get("maxLength"), "character"):
        out.append(text)
    if text := between(prop.get("minItems"), prop.get("maxItems"), "item"):
        out.append(text)
    if "pattern" in prop:
        out.append("an http(s) URL" if prop["pattern"] == URL_PATTERN else f"matches {code(prop['pattern'])}")
    items = prop.get("items")
    if isinstance(items, dict) and (inner := limits(items)):
        out.append("each " + ", ".join(inner))
    return out


# ------------------------------------------------------------------------------- if/then rules


def condition(cond: dict) -> str:
    """An ``if`` schema in words: 'mode is `image-to-video`', 'customMode is `true` and ...'."""
    props = cond.get("properties", {})
    parts = []
    for name, sub in props.items():
        if "const" in sub:
            parts.append(f"`{name}` is {code(sub['const'])}")
        elif "enum" in sub:
            parts.append(f"`{name}` is one of {values(sub['enum'])}")
        else:
            parts.append(f"`{name}` is {', '.join(limits(sub))}")
    parts += [f"`{name}` is given" for name in cond.get("required", []) if name not in props]
    return " and ".join(parts)


def requires(names: list[str]) -> str:
    return "requires " + ", ".join(f"`{n}`" for n in names)


def effects(then: dict, *, required: bool = True) -> list[str]:
    """What a ``then`` schema asks, in words (``required=False``: all but its required fields)."""
    out = []
    if required and then.get("required"):
        out.append(requires(then["required"]))
    for name, sub in then.get("properties", {}).items():
        out.append(f"`{name}` " + ", ".join(limits(sub)))
    for alternatives in [then["anyOf"]] if "anyOf" in then else []:
        names = [f"`{r}`" for alt in alternatives for r in alt.get("required", [])]
        out.append("requires at least one of " + ", ".join(names))
    if "if" in then:
        out.append(f"when {condition(then['if'])}: " + "; ".join(effects(then.get("then", {}))))
    return out


def mode_values(schema: dict) -> list:
    prop = schema.get("properties", {}).get("mode")
    if not isinstance(prop, dict):
        return []
    return list(prop["enum"]) if "enum" in prop else [prop["const"]] if "const" in prop else []


def mode_rule(rule: dict) -> list | None:
    """The modes an if/then rule applies to, when its ``if`` looks at mode alone; else None."""
    cond = rule.get("if", {})
    props = cond.get("properties", {})
    if set(props) != {"mode"} or set(cond.get("required", [])) - {"mode"}:
        return None
    sub = props["mode"]
    return [sub["const"]] if "const" in sub else list(sub.get("enum", [])) or None


@dataclass
class Rules:
    """A schema's if/then rules, sorted for the page."""

    modes: list  # the mode field's values, in schema order
    mode_requires: dict[Any, list[str]]  # mode -> the fields its rules require
    mode_asks: dict[Any, list[str]]  # mode -> what else its rules ask
    required_in: dict[str, list]  # field -> the modes that require it
    required_when: dict[str, list[str]]  # field -> the other conditions that require it
    others: list[str]  # rules that do not hang on mode alone, in words

    def required(self, field: str) -> str:
        """When ``field`` is required, for a field the schema does not always require."""
        whens = []
        if modes := self.required_in.get(field):
            whens.append(
                condition({"properties": {"mode": {"const": modes[0]} if len(modes) == 1 else {"enum": modes}}})
            )
        whens += self.required_when.get(field, [])
        return "; ".join(f"when {w}" for w in whens) or "no"


def rules(schema: dict) -> Rules:
    modes = mode_values(schema)
    out = Rules(modes, {m: [] for m in modes}, {m: [] for m in modes}, {}, {}, [])
    for rule in schema.get("allOf", []):
        if "if" not in rule:
            continue
        then = rule.get("then", {})
        applies = mode_rule(rule)
        if applies is None:
            out.others.append(f"When {condition(rule['if'])}: " + "; ".join(effects(then)) + ".")
            for field in then.get("required", []):
                out.required_when.setdefault(field, []).append(condition(rule["if"]))
            continue
        for mode in applies:
            for field in then.get("required", []):
                if field not in out.mode_requires.setdefault(mode, []):
                    out.mode_requires[mode].append(field)
                if mode not in out.required_in.setdefault(field, []):
                    out.required_in[field].append(mode)
            out.mode_asks.setdefault(mode, []).extend(effects(then, required=False))
    for found in out.required_in.values():
        found.sort(key=lambda m: modes.index(m) if m in modes else len(modes))
    return out


# ------------------------------------------------------------------------------------ examples


@dataclass
class Example:
    label: str
    input: dict
    derived_from: int | None = None  # the schema example it was made from, when the schema has none


def examples(model: Model) -> list[Example]:
    """The schema's examples, then, for each mode none of them shows, the first example that is
    valid with its mode changed to that one (so every mode has a body the page can show)."""
    given = list(model.schema.get("examples", []))
    out = [Example(_label(e, i), e) for i, e in enumerate(given, 1)]
    shown = {e.get("mode") for e in given}
    for mode in mode_values(model.schema):
        if mode in shown:
            continue
        for i, base in enumerate(given, 1):
            candidate = {**copy.deepcopy(base), "mode": mode}
            try:
                model.validate(candidate)
            except InputInvalid:
                continue
            out.append(Example(_label(candidate, len(out) + 1), candidate, derived_from=i))
            break
    return out


def _label(example: dict, n: int) -> str:
    return f"**Example {n}**" + (f", mode {code(example['mode'])}" if "mode" in example else "")


# ---------------------------------------------------------------------------------------- page


def outputs(model: Model) -> str:
    """Result files per task: '1 per task', '`n` per task (default 1)', '4 per task (upscale: 1)'."""
    props = model.schema.get("properties", {})
    for field in ("num_images", "n"):  # the same order as Model.outputs()
        if field in props:
            return f"`{field}` per task (default {props[field].get('default', 1)})"
    rule = model.outputs_rule
    if isinstance(rule, dict):
        named = ", ".join(f"{k}: {v}" for k, v in rule.items() if k != "*")
        return f"{rule['*']} per task ({named})"
    return f"{rule} per task"


def length(model: Model) -> str:
    if model.media == "image":
        return ""
    props = model.schema.get("properties", {})
    if "duration" in props:
        default = props["duration"].get("default")
        return f"`duration` seconds (default {default})" if default is not None else "`duration` seconds"
    return f"{number(model.seconds or DEFAULT_SECONDS[model.media])} s"


def render() -> str:
    """The whole page."""
    blocks = [_head()]
    sections: list[tuple[Source, list[Model], list[str], dict[str, list[str]]]] = []
    for src in sources():
        header, comments = yaml_comments(src.data_file.read_text(encoding="utf-8"))
        sections.append((src, list(src.dialect.catalog()), header, comments))
    blocks.append(_contents(sections))
    blocks.append(_overview(sections))
    for src, models, header, comments in sections:
        blocks.append(_dialect(src, header))
        for model in models:
            blocks.append(_model(src, model, comments.get(model.name, [])))
    return "\n\n".join(b.rstrip("\n") for b in blocks) + "\n"


def _head() -> str:
    return (
        "# Model reference\n\n"
        f"> Generated by `{COMMAND}` from each dialect's `models.yaml` and model schemas; do not edit. "
        "`tests/test_models_doc.py` fails when this page is out of date, and submits every example "
        "body on it to the mock.\n\n"
        "Every model the mock serves, in both dialects: where to submit it, what its input takes (the "
        "limits are what the mock accepts; a body outside them is a 400 that names the field), a valid "
        "body per mode, how long its tasks take, what a client should do while it waits, and what it "
        "costs. Each number says where it comes from: the comments of the dialect's `models.yaml` and "
        "the schema's description (which cites the provider page the limits were read from)."
    )


def _anchor(src: Source, model: Model) -> str:
    return slug(_title(src, model))


def _title(src: Source, model: Model) -> str:
    return f"{model.name} ({src.dialect.title})"


def _contents(sections: list) -> str:
    lines = ["## Contents", "", "- [Overview](#overview)"]
    for src, models, _, _ in sections:
        lines.append(f"- [{src.dialect.title}](#{slug(src.dialect.title)})")
        lines += [f"  - [{m.name}](#{_anchor(src, m)})" for m in models]
    return "\n".join(lines)


def _overview(sections: list) -> str:
    lines = [
        "## Overview",
        "",
        "Times: a task is pending, then processing for a time drawn (seeded) in the range; the client "
        "guidance is when to poll first, how often after that, and when to give up. Price: credits per "
        "result file.",
        "",
        "| Model | Dialect | Submit | Kind | Files | Price | Pending | Processing | First poll / every / give up |",
        "| --- " * 9 + "|",
    ]
    for src, models, _, _ in sections:
        for m in models:
            guidance = " / ".join(duration(v) for v in (m.initial_wait_ms, m.poll_interval_ms, m.max_wait_ms))
            row = [
                f"[{m.name}](#{_anchor(src, m)})",
                src.dialect.title,
                f"`POST {src.route(m)}`",
                m.kind,
                outputs(m),
                number(m.price),
                duration(m.pending_ms),
                span(*m.processing_ms),
                guidance,
            ]
            lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return "\n".join(lines)


def _dialect(src: Source, header: list[str]) -> str:
    name = src.data_file.resolve().relative_to(Path(mockserver.__file__).resolve().parent.parent).as_posix()
    lines = [f"## {src.dialect.title}", "", src.intro, "", f"From the notes at the top of `{name}`:", ""]
    for i, paragraph in enumerate(header):
        lines += ([">"] if i else []) + [f"> {prose(paragraph)}"]
    return "\n".join(lines)


def _model(src: Source, model: Model, comment: list[str]) -> str:
    schema = model.schema
    schema_path = f"{src.schema_dir}/{model.name}.json"
    found = rules(schema)
    out = [f"### {_title(src, model)}", ""]
    if schema.get("description"):
        out += [prose(schema["description"]), ""]
    facts = [
        f"**Submit:** `POST {src.route(model)}`; schema [{schema_path}](../{schema_path})",
        f"**Kind:** {model.kind}; **media:** {model.media}, {model.output_spec({}).ext} files, {outputs(model)}"
        + (f", length {length(model)}" if length(model) else ""),
        f"**Price:** {number(model.price)} credits per {FILE_WORDS[model.media]}",
        f"**Times:** pending {duration(model.pending_ms)}, then processing {span(*model.processing_ms)}",
        f"**Client guidance:** first poll {_first_poll(model)}, then every "
        f"{duration(model.poll_interval_ms)}; give up after {duration(model.max_wait_ms)}",
    ]
    if model.progression == "polls":
        facts.append(
            f"**Progression:** by polls: pending for {model.pending_polls}, processing for "
            f"{model.processing_polls} more, done on the next"
        )
    if model.official_only:
        facts.append('**Provider:** `"official"` only (absent means official)')
    if model.follow_up_modes:
        facts.append(
            f"**Follow-up modes:** {values(list(model.follow_up_modes))} act on an earlier successful task "
            f"of this model and key (`taskId`; the examples' ids are placeholders)"
        )
    facts.append(
        "**Sources:** "
        + (prose(" ".join(comment)) if comment else f"the notes in [{src.dialect.title}](#{slug(src.dialect.title)})")
    )
    out += [f"- {f}" for f in facts] + [""]
    out += _fields(schema, found)
    out += _modes(model, found)
    if found.others:
        out += ["#### Other rules", ""] + [f"- {r}" for r in found.others] + [""]
    out += _examples(src, model)
    return "\n".join(out)


def _first_poll(model: Model) -> str:
    return "at once" if model.initial_wait_ms == 0 else f"after {duration(model.initial_wait_ms)}"


def _fields(schema: dict, found: Rules) -> list[str]:
    required = set(schema.get("required", []))
    lines = [
        "#### Fields",
        "",
        "| Field | Type | Required | Limits | Default | Notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, prop in schema.get("properties", {}).items():
        need = "yes" if name in required else found.required(name)
        default = code(prop["default"]) if isinstance(prop, dict) and "default" in prop else ""
        note = prose(prop.get("description", "")) if isinstance(prop, dict) else ""
        row = [f"`{name}`", type_of(prop), need, "; ".join(limits(prop)), default, note]
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    if schema.get("additionalProperties") is False:
        lines += ["", "A field not listed is refused."]
    return lines + [""]


def _modes(model: Model, found: Rules) -> list[str]:
    if not found.modes:
        return []
    shown = {e.input.get("mode"): i for i, e in reversed(list(enumerate(examples(model), 1)))}
    lines = ["#### Modes", "", "| Mode | Rules | Example |", "| --- | --- | --- |"]
    for mode in found.modes:
        need = found.mode_requires.get(mode, [])
        asks = ([requires(need)] if need else []) + found.mode_asks.get(mode, [])
        example = f"Example {shown[mode]}" if mode in shown else "none"
        lines.append("| " + " | ".join(cell(c) for c in [code(mode), "; ".join(asks) or "—", example]) + " |")
    return lines + [""]


def _examples(src: Source, model: Model) -> list[str]:
    lines = ["#### Examples", ""]
    for example in examples(model):
        note = f" (example {example.derived_from} with its mode changed)" if example.derived_from else ""
        lines += [
            f"{example.label}{note}: `POST {src.route(model)}`",
            "",
            "```json",
            json.dumps(src.body(example.input), indent=2, ensure_ascii=False),
            "```",
            "",
        ]
    return lines


# ----------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/models.md from the model catalogs and schemas.")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is out of date; write nothing")
    parser.add_argument("--out", type=Path, default=OUT, help="the page to write or check (default: docs/models.md)")
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current == page:
            return 0
        sys.stdout.writelines(_diff(current, page, args.out.name))
        print(f"{args.out} is out of date: run `{COMMAND}`", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    return 0


def _diff(old: str, new: str, name: str) -> Iterator[str]:
    return difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{name} (checked in)", f"{name} (now)")


if __name__ == "__main__":
    raise SystemExit(main())
