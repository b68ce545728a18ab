"""The examples in examples/ run as the README says (on the host here: --no-container)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tests.runner.conftest import job_id_of, superbatch
from tests.support.paths import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def _run(example: str, cwd: Path) -> Path:
    spec = EXAMPLES / example / "job.toml"
    result = superbatch("run", str(spec), "--local", "--no-container", "--json", cwd=cwd)
    assert result.code == 0, result.stdout + result.stderr
    return cwd / "results" / job_id_of(result)


def test_wordcount_merges_every_file(project: Path) -> None:
    results = _run("wordcount", project)
    texts = sorted((EXAMPLES / "wordcount" / "data").glob("*.txt"))
    expected = sum(len(re.findall(r"[a-z']+", p.read_text().lower())) for p in texts)
    total = json.loads((results / "_aggregate" / "total.json").read_text())
    assert total["files"] == len(texts) and total["words"] == expected
    assert (results / "2" / "out" / "notes on caching.json").is_file()


def test_sweep_runs_one_task_per_row(project: Path) -> None:
    results = _run("sweep", project)
    rows = list(csv.DictReader((EXAMPLES / "sweep" / "params.csv").open()))
    for index, row in enumerate(rows):
        estimate = json.loads((results / str(index) / "estimate.json").read_text())
        assert estimate["seed"] == int(row["seed"]) and 2.9 < estimate["pi"] < 3.4
    assert json.loads((results / "_aggregate" / "summary.json").read_text())["runs"] == len(rows)


def test_awk_totals_per_region(project: Path) -> None:
    results = _run("awk", project)
    report = (results / "_aggregate" / "report.csv").read_text().splitlines()
    totals = {}
    for path in (EXAMPLES / "awk" / "data").glob("*.csv"):
        rows = list(csv.DictReader(path.open()))
        totals[path.stem] = (len(rows), sum(float(r["amount"]) for r in rows))
    expected = sorted(totals.items(), key=lambda kv: -kv[1][1])
    assert report == [f"{region},{n},{total:.2f}" for region, (n, total) in expected]


@pytest.mark.parametrize("example", ["wordcount", "sweep", "awk"])
def test_examples_are_valid_specs(example: str) -> None:
    from superbatch.spec import load_spec

    job = load_spec(EXAMPLES / example / "job.toml")
    assert job.tasks and job.aggregate is not None
