"""Result files from mockserver.core.media are real, valid files (no ffmpeg needed)."""

from __future__ import annotations

import hashlib
import io
import struct
import time
import wave
import zlib
from fractions import Fraction

import pytest

from mockserver.core import media as media
from mockserver.core.media import MediaSpec

RATIOS = "1:1 1:2 2:1 2:3 3:2 3:4 4:3 4:5 5:4 5:6 6:5 9:16 16:9 21:9".split()


# ------------------------------------------------------------------ tiny readers


def read_png(data: bytes) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    """Parse a PNG, checking signature and every CRC; return (w, h, chunks)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, comp, filt, interlace) == (8, 2, 0, 0, 0)  # 8-bit RGB
    return width, height, chunks


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """ISO-BMFF boxes in data[start:end] as (type, offset, size)."""
    end = len(data) if end is None else end
    out = []
    pos = start
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        assert size >= 8, f"unsupported box size {size} for {kind!r}"
        out.append((kind, pos, size))
        pos += size
    assert pos == end, "boxes overrun their container"
    return out


def find_box(data: bytes, path: list[bytes]) -> tuple[int, int]:
    """(offset, size) of the first box along a container path, e.g. [moov, trak]."""
    start, end = 0, len(data)
    for kind in path:
        match = next(b for b in boxes(data, start, end) if b[0] == kind)
        _, off, size = match
        start, end = off + 8, off + size
    return start - 8, end - start + 8


# ------------------------------------------------------------------ content types


def test_content_types() -> None:
    assert media.content_type("png") == "image/png"
    assert media.content_type("mp4") == "video/mp4"
    assert media.content_type("wav") == "audio/wav"
    assert media.content_type(".PNG") == "image/png"
    assert media.content_type("jpg") == media.content_type("jpeg") == "image/jpeg"
    assert media.content_type("mp3") == "audio/mpeg"
    assert media.content_type("exe") is None
    assert media.RENDERABLE <= media.CONTENT_TYPES.keys()


# ------------------------------------------------------------------ ratio_size


@pytest.mark.parametrize("ratio", RATIOS)
def test_ratio_size_exact(ratio: str) -> None:
    a, b = (int(t) for t in ratio.split(":"))
    w, h = media.ratio_size(ratio)
    assert Fraction(w, h) == Fraction(a, b)
    assert max(w, h) <= 256
    assert max(w, h) > 256 - max(a, b)  # as large as the formula allows


def test_ratio_size_long_side_and_errors() -> None:
    assert media.ratio_size("3:2", 64) == (63, 42)
    assert media.ratio_size("16:9", 8) == (16, 9)  # k never drops below 1
    for bad in ("16x9", "a:b", "0:1", "1:2:3", ""):
        with pytest.raises(ValueError):
            media.ratio_size(bad)


# ------------------------------------------------------------------ PNG


@pytest.mark.parametrize("size", [(1, 1), (256, 256), (256, 144), (144, 256), (252, 108), (7, 3)])
def test_png_valid(size: tuple[int, int]) -> None:
    width, height = size
    w, h, chunks = read_png(media.png(width, height, seed=3))
    assert (w, h) == (width, height)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + 3 * width  # filter byte + RGB
    assert len(raw) == height * stride
    rows = [raw[i : i + stride] for i in range(0, len(raw), stride)]
    assert all(row[0] == 0 for row in rows)  # filter "None"


@pytest.mark.parametrize("ratio", RATIOS)
def test_png_for_ratio(ratio: str) -> None:
    a, b = (int(t) for t in ratio.split(":"))
    w, h, _ = read_png(media.render(MediaSpec("png", *media.ratio_size(ratio)), seed=1))
    assert Fraction(w, h) == Fraction(a, b)


def test_png_is_not_flat() -> None:
    _, _, chunks = read_png(media.png(64, 64, seed=9))
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    pixels = {raw[i : i + 3] for r in range(64) for i in range(r * 193 + 1, (r + 1) * 193, 3)}
    assert len(pixels) > 20


def test_png_rejects_bad_size() -> None:
    for w, h in ((0, 10), (10, 0), (-1, 5), (media.MAX_SIDE + 1, 1)):
        with pytest.raises(ValueError):
            media.png(w, h)


def test_png_render_is_fast() -> None:
    best = min(_time_uncached_png(seed) for seed in range(5))
    assert best < 0.005


def _time_uncached_png(seed: int) -> float:
    start = time.perf_counter()
    media.png.__wrapped__(256, 256, 10_000 + seed)  # bypass the cache
    return time.perf_counter() - start


# ------------------------------------------------------------------ WAV


@pytest.mark.parametrize("seconds", [0.5, 1.0, 2.5, 8.0, 30.0])
def test_wav_valid(seconds: float) -> None:
    data = media.wav(seconds, seed=2)
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnchannels() == 1
        assert w.getsampwidth() == 2
        assert w.getframerate() == media.SAMPLE_RATE
        assert w.getnframes() == round(seconds * w.getframerate())
        assert w.getnframes() / w.getframerate() == pytest.approx(seconds)
        frames = w.readframes(w.getnframes())
    assert len(frames) == 2 * round(seconds * media.SAMPLE_RATE)
    assert len(data) < 500_000
    assert any(frames)  # not silence


def test_wav_rejects_bad_duration() -> None:
    for seconds in (0, -1, media.MAX_SECONDS + 1, float("nan")):
        with pytest.raises(ValueError):
            media.wav(seconds)


# ------------------------------------------------------------------ MP4


@pytest.mark.parametrize(
    ("width", "height", "orientation"),
    [
        (256, 144, "landscape"),
        (1920, 1080, "landscape"),
        (252, 108, "landscape"),  # 21:9
        (144, 256, "portrait"),
        (1080, 1920, "portrait"),
        (256, 256, "square"),
        (240, 256, "square"),  # 15:16 is nearer 1:1 than 9:16
    ],
)
def test_mp4_valid(width: int, height: int, orientation: str) -> None:
    data = media.mp4(width, height, seconds=5)
    top = boxes(data)  # also checks top-level sizes add up to the file length
    kinds = [k for k, _, _ in top]
    assert kinds[0] == b"ftyp"
    assert b"moov" in kinds and b"mdat" in kinds
    assert sum(size for _, _, size in top) == len(data)
    assert kinds.index(b"moov") < kinds.index(b"mdat")  # faststart: streamable

    stsd_off, stsd_size = find_box(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    entries = boxes(data, stsd_off + 16, stsd_off + stsd_size)  # skip version/flags/count
    assert entries[0][0] == b"avc1"

    tkhd_off, tkhd_size = find_box(data, [b"moov", b"trak", b"tkhd"])
    tw, th = struct.unpack(">II", data[tkhd_off + tkhd_size - 8 : tkhd_off + tkhd_size])
    tw, th = tw >> 16, th >> 16  # 16.16 fixed point
    got = "landscape" if tw > th else "portrait" if tw < th else "square"
    assert got == orientation


def test_mp4_render_keeps_structure_and_varies_by_seed() -> None:
    a = media.render(MediaSpec("mp4", 1280, 720, 5.0), seed=1)
    b = media.render(MediaSpec("mp4", 1280, 720, 5.0), seed=2)
    assert a != b
    for data in (a, b):
        top = boxes(data)
        assert top[0][0] == b"ftyp"
        assert sum(size for _, _, size in top) == len(data)
        assert data.startswith(media.mp4(1280, 720))  # the clip itself is untouched


def test_mp4_assets_are_small() -> None:
    for w, h in ((16, 9), (9, 16), (1, 1)):
        assert 1_000 < len(media.mp4(w, h)) < 50_000


# ------------------------------------------------------------------ render


@pytest.mark.parametrize(
    "spec",
    [MediaSpec("png", 96, 64), MediaSpec("wav", seconds=1.5), MediaSpec("mp4", 144, 256, 2.0)],
)
def test_render_deterministic_and_seeded(spec: MediaSpec) -> None:
    assert media.render(spec, 7) == media.render(spec, 7)
    # Bypass every cache for the determinism check: bytes must be rebuilt identically.
    fresh = {
        "png": lambda: media.png.__wrapped__(spec.width, spec.height, 7),
        "wav": lambda: media.wav.__wrapped__(spec.seconds, 7),
        "mp4": lambda: media._mp4_seeded.__wrapped__(spec.width, spec.height, 7),
    }[spec.ext]()
    assert fresh == media.render(spec, 7)
    outputs = {media.render(spec, seed) for seed in range(20)}
    assert len(outputs) == 20


def test_png_pixels_differ_by_seed() -> None:
    """Different seeds change the picture itself, not only the text chunk."""

    def idat(seed: int) -> bytes:
        return b"".join(body for kind, body in read_png(media.png(32, 32, seed))[2] if kind == b"IDAT")

    assert len({idat(seed) for seed in range(10)}) == 10


def test_wav_samples_differ_by_seed() -> None:
    assert len({media.wav(1.0, seed)[44:] for seed in range(10)}) == 10


def test_render_is_cached() -> None:
    spec = MediaSpec("png", 256, 256)
    assert media.render(spec, 11) is media.render(spec, 11)


def test_render_defaults_and_errors() -> None:
    w, h, _ = read_png(media.render(MediaSpec("png"), 0))
    assert (w, h) == (media.DEFAULT_SIDE, media.DEFAULT_SIDE)
    with wave.open(io.BytesIO(media.render(MediaSpec("WAV"), 0))) as wf:
        assert wf.getnframes() == media.SAMPLE_RATE * media.DEFAULT_SECONDS
    with pytest.raises(ValueError):
        media.render(MediaSpec("gif", 10, 10), 0)


# The bytes of PNGs rendered before the base row was built a cell at a time (issue 13's render
# speed-up): a result file's bytes are an answer, and must not change.
PNG_SHA256_PREFIX = {
    (256, 256, 0): "eccc3c0d34a60a89",
    (256, 144, 7): "bb74b26ae401ce54",
    (144, 256, 123456789): "494a7241a16701f3",
    (1, 1, 3): "d7a43e513d661d97",
    (7, 300, 42): "65258f98f855b616",
    (255, 97, 4294967295): "5427829786893d33",
    (640, 480, 99): "991115a5413539d5",
}


@pytest.mark.parametrize("case", sorted(PNG_SHA256_PREFIX))
def test_png_bytes_unchanged(case: tuple[int, int, int]) -> None:
    width, height, seed = case
    assert hashlib.sha256(media.png.__wrapped__(width, height, seed)).hexdigest()[:16] == PNG_SHA256_PREFIX[case]
