"""The client conformance report: what a client did against the provider's guidance, with evidence.

- ``checks``: our margins and bounds, and the checks (one per code) in a dialect's words: ``CHECKS``;
- ``tracker``: ``ConformanceTracker``, fed each journal entry as it is recorded, and its report;
- ``messages``: the text of each finding;
- ``output``: ``format_report`` (the table ``mockserver report`` prints) and ``assert_conforming``.

The provider's guidance (what to retry, the backoff, the pages cited, its names for endpoints and
fields) comes from the dialect of the request or task judged (``Dialect.guidance``).
"""

from mockserver.report.checks import CHECKS, ERROR, WARNING, Check
from mockserver.report.output import assert_conforming, format_report
from mockserver.report.tracker import ALL_KEYS, ConformanceTracker

__all__ = [
    "ALL_KEYS",
    "CHECKS",
    "Check",
    "ConformanceTracker",
    "ERROR",
    "WARNING",
    "assert_conforming",
    "format_report",
]
