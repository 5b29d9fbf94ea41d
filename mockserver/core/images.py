"""Reference images (``image_urls``): which URLs the provider would accept a task for, then fail.

APIXO's model pages (002, 003): "image_urls supports JPG, PNG, WebP formats, max 10MB per image",
and the fail codes INVALID_IMAGE_URL, IMAGE_TOO_LARGE, UNSUPPORTED_FORMAT, IMAGE_DOWNLOAD_FAILED
(contract-notes.md). The provider fetches the images after accepting the task, so a bad image is a
failed task, not a 400. The mock fetches nothing: the format is read from the URL's extension, and
hosts under the reserved ``.example`` and ``.invalid`` names (RFC 2606) stand for the failures
only a download would show.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["FAILING_HOSTS", "FORMATS", "MAX_IMAGE_MB", "image_url_failure", "image_urls"]

FORMATS = ("jpg", "jpeg", "png", "webp")  # page 002: "JPG, PNG, WebP"
MAX_IMAGE_MB = 10  # page 002: "max 10MB per image"
# A host (or any subdomain of it) -> the fail code a task with an image there ends with.
FAILING_HOSTS = {
    "invalid-image-url.example": "INVALID_IMAGE_URL",
    "image-too-large.example": "IMAGE_TOO_LARGE",
    "image-download-failed.example": "IMAGE_DOWNLOAD_FAILED",
}
_NEVER_RESOLVES = "invalid"  # RFC 2606: a name under .invalid never resolves


def image_urls(input: object) -> tuple[str, ...]:
    """The strings of ``input["image_urls"]`` (a submit read leniently: anything else is ignored)."""
    urls = input.get("image_urls") if isinstance(input, dict) else None
    if not isinstance(urls, list):
        return ()
    return tuple(url for url in urls if isinstance(url, str))


def image_url_failure(urls: tuple[str, ...] | list[str]) -> tuple[str, str] | None:
    """(fail code, failMsg) of the first image URL the provider could not use, or None."""
    for i, url in enumerate(urls):
        found = _failure(url)
        if found is not None:
            code, why = found
            return code, f"image_urls[{i}]: {why}"
    return None


def _failure(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return "INVALID_IMAGE_URL", "not a URL the provider can fetch"
    if host == _NEVER_RESOLVES or host.endswith("." + _NEVER_RESOLVES):
        return "INVALID_IMAGE_URL", f"cannot access {host}: the name does not resolve"
    for name, code in FAILING_HOSTS.items():
        if host == name or host.endswith("." + name):
            return code, _WHY[code]
    filename = unquote(parts.path).rsplit("/", 1)[-1]
    stem, dot, ext = filename.rpartition(".")
    if dot and stem and ext and ext.lower() not in FORMATS:
        return "UNSUPPORTED_FORMAT", f".{ext} is not a supported format (JPG, PNG or WebP)"
    return None


_WHY = {
    "INVALID_IMAGE_URL": "cannot access the image (the provider got no image from this URL)",
    "IMAGE_TOO_LARGE": f"the image is larger than {MAX_IMAGE_MB} MB",
    "IMAGE_DOWNLOAD_FAILED": "the download of the image failed",
}
