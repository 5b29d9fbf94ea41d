"""The client conformance report: what a client did against the provider's guidance, with evidence.

- ``checks``: the provider's guidance, our margins and bounds, and ``CHECKS`` (one per code);
- ``tracker``: ``ConformanceTracker``, fed each journal entry as it is recorded, and its report;
- ``messages``: the text of each finding;
- ``output``: ``format_report`` (the table ``mockserver report`` prints) and ``assert_conforming``.
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
