"""Labels, `superbatch tasks`, job id prefixes and `last`, through the real command."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner.conftest import cli_env, job_id_of, superbatch, write

SWEEP = {
    "p.csv": "seed,lr\n1,0.1\n2,0.2\n3,0.3\n",
    "job.toml": """\
        name = "sweep"
        tasks = "p.csv"
        command = '''echo {seed}
        if [ {seed} = 2 ]; then echo 'bad lr' >&2; exit 3; fi
        if [ {seed} = 3 ]; then kill -9 $$; fi'''
        """,
}


def test_labels_in_summary_status_manifest_and_tasks(project: Path) -> None:
    write(project, SWEEP)
    run = superbatch("run", "job.toml", "--local", "--no-container", cwd=project)
    assert run.code == 1
    assert "task 1 (seed=2 lr=0.2) failed: exit code 3" in run.stdout
    assert "task 2 (seed=3 lr=0.3) failed: killed by SIGKILL" in run.stdout
    job_id = next((project / "results").iterdir()).name

    status = superbatch("status", job_id, "--local", "--json", cwd=project)
    assert [(t["task"], t["label"]) for t in status.json()["failed"]] == [
        ("1", "seed=2 lr=0.2"),
        ("2", "seed=3 lr=0.3"),
    ]
    manifest = json.loads((project / "results" / job_id / "manifest.json").read_text())
    assert [t["label"] for t in manifest["tasks"]] == [
        "seed=1 lr=0.1",
        "seed=2 lr=0.2",
        "seed=3 lr=0.3",
    ]

    table = superbatch("tasks", job_id, "--local", cwd=project)
    assert table.code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["TASK", "STATE", "ATTEMPTS", "EXIT", "DURATION", "NODE", "LABEL"]
    assert "killed by SIGKILL" in lines[3] and " -9 " not in lines[3]
    assert lines[3].endswith("seed=3 lr=0.3")

    failed = superbatch("tasks", job_id, "--local", "--state", "failed", "--json", cwd=project)
    rows = failed.json()
    assert [(r["task"], r["exit"], r["node"]) for r in rows] == [
        ("1", "3", "local-node"),
        ("2", "killed by SIGKILL (exit code 137)", "local-node"),
    ]
    assert all(r["duration_seconds"] is not None and r["attempts"] == 1 for r in rows)


def test_input_path_labels_prefix_and_last(project: Path) -> None:
    write(
        project,
        {
            "data/a b.txt": "x",
            "data/c.txt": "y",
            "job.toml": 'name = "files"\ninputs = "data/*.txt"\ncommand = "cat {input}"\n',
        },
    )
    job_id = job_id_of(superbatch("run", "job.toml", "--local", "--json", cwd=project))
    by_prefix = superbatch("tasks", job_id[:7], "--local", "--json", cwd=project)
    assert [(r["task"], r["label"]) for r in by_prefix.json()] == [
        ("0", "data/a b.txt"),
        ("1", "data/c.txt"),
    ]
    last = superbatch("status", "last", "--local", "--json", cwd=project)
    assert last.json()["job_id"] == job_id

    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    none = superbatch("status", "last", "--local", cwd=elsewhere)
    assert none.code == 5 and "no local job was run from" in none.stderr


def test_ambiguous_and_unknown_prefixes_are_one_line(project: Path) -> None:
    write(project, {"a.txt": "1", "job.toml": 'name = "pre"\ninputs = "a.txt"\ncommand = "true"\n'})
    superbatch("run", "job.toml", "--local", cwd=project)
    superbatch("run", "job.toml", "--local", "--new", cwd=project)
    ambiguous = superbatch("status", "pre", "--local", cwd=project)
    assert ambiguous.code == 5 and "matches 2 jobs" in ambiguous.stderr
    unknown = superbatch("status", "nope", "--local", cwd=project)
    assert unknown.code == 5 and "no local job 'nope'" in unknown.stderr


def test_dry_run_creates_nothing_and_shows_the_plan(project: Path) -> None:
    files = {f"data/{i}.txt": "x" * (i + 1) for i in range(7)}
    write(
        project,
        {**files, "job.toml": 'name = "dry"\ninputs = "data/*.txt"\ncommand = "cat {input}"\n'},
    )
    index = project.parent / "index.jsonl"
    env = cli_env({"SUPERBATCH_INDEX": str(index)})
    plan = superbatch(
        "run",
        "job.toml",
        "--local",
        "--dry-run",
        "--estimate",
        "10m",
        "--json",
        cwd=project,
        env=env,
    )
    assert plan.code == 0, plan.stderr
    data = plan.json()
    assert (data["tasks"], data["tasks_to_add"], data["exists"], data["created"]) == (
        7,
        7,
        False,
        False,
    )
    assert [t["label"] for t in data["preview"]] == [f"data/{i}.txt" for i in range(5)]
    assert data["bytes_total"] == sum(range(1, 8)) and data["estimate_seconds"] == 600
    assert sorted(p.name for p in project.iterdir()) == ["data", "job.toml"]  # no state, no results
    assert not index.exists()

    text = superbatch("run", "job.toml", "--local", "--dry-run", cwd=project, env=env)
    assert "dry run, nothing created" in text.stdout and "... and 2 more" in text.stdout

    refused = superbatch("run", "job.toml", "--local", "--estimate", "10m", cwd=project, env=env)
    assert refused.code == 2 and "only apply with --dry-run" in refused.stderr
    priced = superbatch(
        "run",
        "job.toml",
        "--local",
        "--dry-run",
        "--price-per-node-hour",
        "1",
        cwd=project,
        env=env,
    )
    assert priced.code == 2 and "applies to Azure" in priced.stderr
    assert sorted(p.name for p in project.iterdir()) == ["data", "job.toml"]


def test_the_same_job_is_found_from_another_folder(project: Path) -> None:
    write(
        project,
        {
            "data/a.txt": "1",
            "job.toml": 'name = "far"\ninputs = "data/*.txt"\ncommand = "cat {input} > o.txt"\n'
            'outputs = ["o.txt"]\n',
        },
    )
    job_id = job_id_of(superbatch("run", "job.toml", "--local", "--json", cwd=project))
    other = project.parent / "other"
    other.mkdir()
    listed = superbatch("jobs", "--local", "--json", cwd=other)
    assert [j["job_id"] for j in listed.json()] == [job_id]
    assert (
        superbatch("status", job_id, "--local", "--json", cwd=other).json()["state"] == "completed"
    )
    fetched = superbatch("results", job_id[:6], "--local", cwd=other)
    assert fetched.code == 0 and (other / "results" / job_id / "0" / "o.txt").read_text() == "1"
    again = superbatch("run", str(project / "job.toml"), "--local", "--json", cwd=other)
    assert again.code == 0 and again.json()["job_id"] == job_id
    assert not (other / ".superbatch").exists()  # reconnected: nothing ran again here
    events = (project / ".superbatch" / "jobs" / job_id / "events.jsonl").read_text()
    assert events.count('"event":"started"') == 1
