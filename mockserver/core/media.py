"""Real, valid result files for finished mock tasks (stdlib only).

Images are seeded-gradient PNGs of the exact requested size, music is a seeded
16-bit mono WAV melody of the exact requested duration, and video is one of three
tiny pre-encoded H.264 clips shipped in ``mockserver/assets`` (regenerate them
with ``scripts/make_media_assets.sh``; ffmpeg is never needed at runtime).

Everything is deterministic for its inputs and cached, because the same result
file is typically downloaded many times.
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
import sys
import zlib
from array import array
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "CONTENT_TYPES",
    "RENDERABLE",
    "MediaSpec",
    "content_type",
    "mp4",
    "png",
    "ratio_size",
    "render",
    "wav",
]


@dataclass(frozen=True, slots=True)
class MediaSpec:
    """What to render for one result file."""

    ext: str  # "png" | "mp4" | "wav"
    width: int = 0  # images and video
    height: int = 0
    seconds: float = 0.0  # video and audio duration


# Content types for serving. jpeg/jpg/mp3 are mapped so files with those extensions
# are labelled correctly, but render() only produces the formats in RENDERABLE.
CONTENT_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "mp4": "video/mp4",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
}

RENDERABLE: frozenset[str] = frozenset({"png", "mp4", "wav"})

# Limits keep a bad request from allocating gigabytes inside the mock.
MAX_SIDE = 8192
MAX_SECONDS = 600.0

# Used by render() when a spec leaves a field at its zero default.
DEFAULT_SIDE = 256
DEFAULT_SECONDS = 1.0

SAMPLE_RATE = 8000  # low rate: 30 s of 16-bit mono is 480 KB


def content_type(ext: str) -> str | None:
    """Content-Type for a file extension (case-insensitive, leading dot optional)."""
    return CONTENT_TYPES.get(ext.lower().lstrip("."))


def ratio_size(ratio: str, long_side: int = 256) -> tuple[int, int]:
    """Pixel size for an ``"a:b"`` aspect ratio with ``w / h == a / b`` exactly.

    ``w = a * k`` and ``h = b * k`` with ``k = max(1, long_side // max(a, b))``, so the
    long side is at most ``long_side`` unless the ratio terms themselves exceed it.
    """
    try:
        a_str, b_str = ratio.split(":")
        a, b = int(a_str), int(b_str)
    except ValueError:
        raise ValueError(f"aspect ratio must look like 'W:H', got {ratio!r}") from None
    if a <= 0 or b <= 0:
        raise ValueError(f"aspect ratio terms must be positive, got {ratio!r}")
    k = max(1, long_side // max(a, b))
    return a * k, b * k


def _seed_bytes(kind: str, seed: int) -> bytes:
    """Stable per-(kind, seed) pseudo-random bytes; hash() is salted per process."""
    return hashlib.blake2b(f"{kind}:{seed}".encode(), digest_size=16).digest()


# ---------------------------------------------------------------------------- PNG

# A triangle wave over 0..255, doubled so any 256-byte window is a valid
# bytes.translate() table: shifting the window shifts every pixel's phase at C speed.
_TRIANGLE = bytes(min(2 * i, 511 - 2 * i) for i in range(256)) * 2


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _check_side(name: str, value: int) -> None:
    if not 1 <= value <= MAX_SIDE:
        raise ValueError(f"{name} must be in 1..{MAX_SIDE}, got {value}")


@functools.lru_cache(maxsize=256)
def png(width: int, height: int, seed: int = 0) -> bytes:
    """An RGB PNG of exactly ``width`` x ``height`` showing a seeded diagonal mosaic gradient."""
    _check_side("width", width)
    _check_side("height", height)
    p = _seed_bytes("png", seed)
    # A mosaic of ~32 cells across the short side: rows repeat within a cell band and
    # pixels repeat within a cell, so zlib shrinks it ~50x (a smooth per-pixel gradient
    # barely compresses and costs more to deflate than to build).
    cell = max(1, min(width, height) // 32)
    # Per-channel start phase and horizontal speed (1..4 triangle periods across
    # the image) give each seed its own palette and banding.
    speeds = [p[3 + c] % 4 + 1 for c in range(3)]
    # One pixel per cell, repeated across it: the value of pixel x is that of its cell's first
    # pixel (x - x % cell), so a row is built in width / cell steps, not width x 3.
    base_row = b"".join(
        bytes([(p[c] + speeds[c] * 256 * x0 // width) & 0xFF for c in range(3)]) * min(cell, width - x0)
        for x0 in range(0, width, cell)
    )
    v_speed = p[6] % 3 + 1  # vertical triangle periods
    rows = []
    row = b""
    for y in range(height):
        if y % cell == 0:  # a new band; otherwise reuse the same row object
            off = (v_speed * 256 * y // height) & 0xFF
            row = b"\x00" + base_row.translate(_TRIANGLE[off : off + 256])
        rows.append(row)
    raw = b"".join(rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", ihdr),
            # The seed in a text chunk guarantees distinct seeds give distinct bytes.
            _png_chunk(b"tEXt", b"Comment\x00mockserver seed " + str(seed).encode()),
            _png_chunk(b"IDAT", zlib.compress(raw, 6)),
            _png_chunk(b"IEND", b""),
        )
    )


# ---------------------------------------------------------------------------- WAV

# A pentatonic scale (Hz); notes are snapped to a whole number of samples per period
# so each note is built by repeating one period, which keeps 30 s cheap to render.
_SCALE = (220.0, 247.5, 277.5, 330.0, 370.0, 440.0, 495.0, 555.0, 660.0, 740.0)
_NOTE_SECONDS = 0.25


@functools.lru_cache(maxsize=64)
def _period(samples: int, amplitude: int) -> array:
    return array("h", (round(amplitude * math.sin(2 * math.pi * i / samples)) for i in range(samples)))


@functools.lru_cache(maxsize=32)
def wav(seconds: float, seed: int = 0) -> bytes:
    """A 16-bit mono 8 kHz PCM WAV of exactly ``seconds`` (to the sample): a seeded melody."""
    if not (0 < seconds <= MAX_SECONDS):
        raise ValueError(f"seconds must be in (0, {MAX_SECONDS}], got {seconds}")
    total = max(1, round(seconds * SAMPLE_RATE))
    p = _seed_bytes("wav", seed)
    motif = [_SCALE[b % len(_SCALE)] for b in p[:8]]
    note_len = round(_NOTE_SECONDS * SAMPLE_RATE)
    samples = array("h")
    n = 0
    while len(samples) < total:
        period = round(SAMPLE_RATE / motif[n % len(motif)])
        # Whole periods start and end at zero, and the gap is silence, so notes join
        # without clicks; the gap also makes the notes audibly separate.
        body = _period(period, 9000) * (int(note_len * 0.85) // period)
        samples.extend(body)
        samples.extend(array("h", [0]) * (note_len - len(body)))
        n += 1
    del samples[total:]
    if sys.byteorder == "big":  # WAV PCM is little-endian
        samples.byteswap()
    data = samples.tobytes()
    # Header written by hand (the wave module needs a seekable file object); this is
    # the canonical 44-byte RIFF/WAVE PCM header.
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(data),
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,  # mono
        SAMPLE_RATE,
        SAMPLE_RATE * 2,  # byte rate
        2,  # block align
        16,  # bits per sample
        b"data",
        len(data),
    )
    return header + data


# ---------------------------------------------------------------------------- MP4

# (asset file, width, height); see scripts/make_media_assets.sh.
_CLIPS: tuple[tuple[str, int, int], ...] = (
    ("landscape.mp4", 256, 144),
    ("portrait.mp4", 144, 256),
    ("square.mp4", 256, 256),
)


@functools.lru_cache(maxsize=len(_CLIPS))
def _asset(name: str) -> bytes:
    # importlib.resources works from an installed wheel, not only a source checkout.
    return resources.files("mockserver.core").joinpath("assets", name).read_bytes()


def mp4(width: int, height: int, seconds: float = 1.0) -> bytes:
    """A tiny, playable H.264 MP4 in the orientation closest to ``width`` x ``height``.

    Video results are a fixed 1 s, 12 fps clip (256x144, 144x256 or 256x256) picked
    by nearest aspect ratio; the requested size and ``seconds`` are NOT honoured
    inside the file (that would need a real encoder at runtime).
    """
    _check_side("width", width)
    _check_side("height", height)
    del seconds  # accepted for interface symmetry; see docstring
    want = math.log(width / height)
    name = min(_CLIPS, key=lambda c: abs(math.log(c[1] / c[2]) - want))[0]
    return _asset(name)


def _free_box(payload: bytes) -> bytes:
    # A top-level 'free' box is ignored by every MP4 reader, so it can carry the seed.
    return struct.pack(">I4s", 8 + len(payload), b"free") + payload


@functools.lru_cache(maxsize=256)
def _mp4_seeded(width: int, height: int, seed: int) -> bytes:
    return mp4(width, height) + _free_box(b"mockserver seed " + str(seed).encode())


# ------------------------------------------------------------------------- render


def render(spec: MediaSpec, seed: int) -> bytes:
    """The bytes of one result file; deterministic for ``(spec, seed)``.

    The seed varies colour (PNG), melody (WAV) or a trailing ignorable box (MP4), so
    different tasks get different files. Zero sizes default to 256x256 and zero
    seconds to 1 s. Raises ValueError for an extension outside ``RENDERABLE``.
    """
    ext = spec.ext.lower().lstrip(".")
    width = spec.width or DEFAULT_SIDE
    height = spec.height or DEFAULT_SIDE
    seconds = spec.seconds or DEFAULT_SECONDS
    if ext == "png":
        return png(width, height, seed)
    if ext == "wav":
        return wav(seconds, seed)
    if ext == "mp4":
        return _mp4_seeded(width, height, seed)
    raise ValueError(f"cannot render {spec.ext!r}; supported: {sorted(RENDERABLE)}")
