"""Output patterns mean the same on --local and on (emulated) Azure Batch, through the real
CLI: a trailing ``**`` is the documented ``**/*`` everywhere (a file named like the folder is
not collected by either), and what Batch would read differently is refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.azure.conftest import EmulatedStack, timings_shape
from tests.runner.conftest import job_id_of, superbatch, write


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_trailing_double_star_collects_the_same_files_everywhere(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    write(
        tmp_path,
        {
            "rows.csv": "n\n1\n",
            "job.toml": """\
                name = "stars"
                image = "docker.io/library/busybox:1.36"
                tasks = "rows.csv"
                command = "echo f > res; mkdir -p out/deep; echo a > out/a; echo b > out/deep/b"
                outputs = ["res/**", "out/**"]
                """,
        },
    )
    local = superbatch("run", "job.toml", "--local", "--no-container", "--json",
                       "--results", "local", cwd=tmp_path)  # fmt: skip
    azure = superbatch("run", "job.toml", "--outputs", str(stack.outputs_file), "--json",
                       "--results", "azure", cwd=tmp_path)  # fmt: skip

    assert local.code == 0, local.stderr
    assert azure.code == 0, azure.stderr
    job_id = job_id_of(azure)
    local_tree, azure_tree = _tree(tmp_path / "local" / job_id), _tree(tmp_path / "azure" / job_id)
    assert timings_shape(azure_tree.pop("timings.json")) == timings_shape(
        local_tree.pop("timings.json")
    )
    local_manifest = json.loads(local_tree.pop("manifest.json"))
    azure_manifest = json.loads(azure_tree.pop("manifest.json"))
    assert azure_tree == local_tree
    assert local_manifest["tasks"] == azure_manifest["tasks"]
    outputs = sorted(p for p in local_tree if not p.startswith("0/_logs/"))
    assert outputs == ["0/out/a", "0/out/deep/b"]  # `res` is a file, not a folder: not collected


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("out/$NAME.txt", "expands $VARIABLES"),
        ("out/{a,b}.txt", "brace lists"),
        ("out/**.txt", "whole path segment"),
    ],
)
@pytest.mark.parametrize("where", ["local", "azure"])
def test_patterns_batch_would_read_differently_are_refused_up_front(
    tmp_path: Path, stack: EmulatedStack, pattern: str, says: str, where: str
) -> None:
    write(
        tmp_path,
        {
            "rows.csv": "n\n1\n",
            "job.toml": f"""\
                name = "refused"
                image = "docker.io/library/busybox:1.36"
                tasks = "rows.csv"
                command = "true"
                outputs = ["{pattern}"]
                """,
        },
    )
    target = ("--local",) if where == "local" else ("--outputs", str(stack.outputs_file))

    run = superbatch("run", "job.toml", *target, cwd=tmp_path)

    assert run.code == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and says in run.stderr, run.stderr
    assert stack.emulator.account.jobs == {}
    assert not (tmp_path / ".superbatch").exists()
