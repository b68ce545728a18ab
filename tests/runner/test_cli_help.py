"""Help a user can copy from: usage names SPEC / JOB / TASK, and examples for the main commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.conftest import superbatch


@pytest.mark.parametrize(
    ("command", "usage", "example"),
    [
        (["run"], "Usage: superbatch run [OPTIONS] {SPEC}", "superbatch run job.toml --local"),
        (["status"], "Usage: superbatch status [OPTIONS] {JOB}", "superbatch status wordcount-"),
        (["wait"], "Usage: superbatch wait [OPTIONS] {JOB}", "superbatch wait wordcount-"),
        (["logs"], "Usage: superbatch logs [OPTIONS] {JOB} {TASK}", None),
        (["results"], "Usage: superbatch results [OPTIONS] {JOB}", None),
        (["clean"], "Usage: superbatch clean [OPTIONS] {JOB}", None),
        (["image", "build"], "Usage: superbatch image build [OPTIONS] [DIR]", "image build"),
        (["image", "push"], "Usage: superbatch image push [OPTIONS] [IMAGE]", "--stack dev"),
    ],
)
def test_usage_names_arguments_and_shows_examples(
    tmp_path: Path, command: list[str], usage: str, example: str | None
) -> None:
    result = superbatch(*command, "--help", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == usage
    if example is not None:
        examples = result.stdout.split("Examples:", 1)[1]
        assert example in examples


def _options(help_text: str) -> list[str]:
    section = help_text.split("Options:", 1)[1].split("Examples:", 1)[0]
    return [line.split()[0] for line in section.splitlines() if line.strip().startswith("--")]


@pytest.mark.parametrize(
    ("command", "running"),
    [
        (["run"], True),
        (["wait"], True),
        (["status"], False),
        (["logs"], False),
        (["results"], False),
        (["jobs"], False),
        (["clean"], False),
    ],
)
def test_every_command_has_the_same_backend_options(
    tmp_path: Path, command: list[str], running: bool
) -> None:
    """One option set (superbatch.cli.options.backend_options), in the same order everywhere."""
    options = _options(superbatch(*command, "--help", cwd=tmp_path).stdout)
    expected = ["--local", "--stack", "--outputs"]
    if running:
        expected += ["--parallel", "--engine", "--no-container"]
    assert options[: len(expected)] == expected
    if not running:
        assert "--parallel" not in options and "--no-container" not in options
