"""Reliability suite wiring: the `reliability` report fixture and the summary table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.summary import SUMMARY_PATH
from tests.reliability.summary import ReliabilityReport

_REPORT = ReliabilityReport()


@pytest.fixture(scope="session")
def reliability() -> ReliabilityReport:
    """The run's report: tests add cases, records written/found and figures to it."""
    return _REPORT


def _category(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("reliability")
    return str(marker.args[0]) if marker and marker.args else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    category = _category(item)
    if category is None:
        return
    # One outcome per test: failed if any phase failed, else passed once its call ran.
    if report.failed or (report.when == "call" and report.passed):
        _REPORT.outcome(item.nodeid, category, passed=report.passed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _REPORT.categories:
        return
    terminalreporter.section("reliability summary")
    for line in _REPORT.table():
        terminalreporter.write_line(line)
    _REPORT.write()
    terminalreporter.write_line(f"(also in {SUMMARY_PATH})")
