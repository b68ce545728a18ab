"""Pulumi mocks for the infra tests: installed once per process, before any program runs."""

from __future__ import annotations

import pytest

from tests.infra.harness import ProgramRun, install_mocks, run_program

install_mocks()


@pytest.fixture(scope="module")
def default_run() -> ProgramRun:
    """The program with every setting at its default (as Pulumi.yaml declares them)."""
    return run_program({})
