"""``mockserver.app``: kept for ``from mockserver.app import create_app``; the app lives in ``mockserver.http.app``."""

from mockserver.http.app import MockApp, create_app

__all__ = ["MockApp", "create_app"]
