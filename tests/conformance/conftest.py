"""The conformance summary, printed at the end of any run that replayed the recordings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance import replay

REPORT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def outcomes() -> list[replay.Outcome]:
    """Every recording replayed once, in order, each against a fresh emulator."""
    found = replay.replay_all()
    REPORT.update(replay.summary(found))
    return found


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section("Batch conformance (tests/conformance)")
        terminalreporter.write_line(replay.render(REPORT))
