"""The pytest plugin's entry point (``pytest11``; ``-p mockserver.pytest_plugin``).

The plugin is written in ``mockserver.testing.pytest_plugin``; pytest registers this module,
so the hooks and fixtures are named here once and the plugin is never loaded twice.
"""

from mockserver.testing.pytest_plugin import (
    MockServerSession,
    mock_api,
    mockserver_session,
    pytest_addoption,
    pytest_configure,
    pytest_report_header,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_terminal_summary,
)

__all__ = [
    "MockServerSession",
    "mock_api",
    "mockserver_session",
    "pytest_addoption",
    "pytest_configure",
    "pytest_report_header",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
]
