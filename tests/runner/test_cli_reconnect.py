"""status / jobs / logs / results / clean against a finished job, from "another terminal"."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.runner.conftest import job_id_of, superbatch, write


def test_reconnect_commands(project: Path) -> None:
    write(
        project,
        {
            "params.csv": "word\nalpha\nbeta\n",
            "job.toml": """\
                name = "reconnect"
                tasks = "params.csv"
                command = "echo {word}; echo warn-{word} >&2; echo {word} > w.txt"
                outputs = ["w.txt"]
                """,
        },
    )
    run = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert run.code == 0, run.stderr
    job_id = job_id_of(run)

    jobs = superbatch("jobs", "--local", "--json", cwd=project).json()
    assert [(j["job_id"], j["state"], j["counts"]["succeeded"]) for j in jobs] == [
        (job_id, "completed", 2)
    ]
    status = superbatch("status", job_id, "--local", cwd=project)
    assert status.code == 0 and f"{job_id}: completed: 2 tasks" in status.stdout

    stdout = superbatch("logs", job_id, "1", "--local", "--stream", "stdout", cwd=project)
    assert stdout.stdout == "beta\n"
    both = superbatch("logs", job_id, "0", "--local", cwd=project)
    assert both.stdout == "==> stdout <==\nalpha\n==> stderr <==\nwarn-alpha\n"
    missing = superbatch("logs", job_id, "7", "--local", cwd=project)
    assert missing.code == 5 and "has no task '7'" in missing.stderr

    again = superbatch("results", job_id, "--local", "--results", "copy", "--json", cwd=project)
    assert again.code == 0, again.stderr
    original = json.loads((project / "results" / job_id / "manifest.json").read_text())
    copied = json.loads(Path(again.json()["manifest"]).read_text())
    assert copied == original  # same job, same manifest, wherever it is fetched to
    assert again.json()["tasks"] == original["tasks"]  # --json prints the manifest's entries
    assert (project / "copy" / job_id / "1" / "w.txt").read_text() == "beta\n"

    for answer in ("n\n", ""):  # no, and no answer at all (end of input): nothing changes
        declined = superbatch("clean", job_id, "--local", cwd=project, input=answer)
        assert declined.code == 6 and declined.stdout == ""
        assert declined.stderr.splitlines() == [
            f"Delete job {job_id} and everything stored for it? [y/N]: ",
            f"not cleaned: job {job_id} is unchanged (answer y, or pass --yes)",
        ]
        assert superbatch("status", job_id, "--local", cwd=project).code == 0
    clean = superbatch("clean", job_id, "--local", cwd=project, input="y\n")
    assert clean.code == 0
    assert not (project / ".superbatch" / "jobs" / job_id).exists()
    assert not (project / ".superbatch" / "node" / "workitems" / job_id).exists()
    assert (project / "results" / job_id / "0" / "w.txt").read_text() == "alpha\n"
    gone = superbatch("status", job_id, "--local", cwd=project)
    assert gone.code == 5 and gone.stderr.startswith("error: no local job")


def test_jobs_line_up_results_json_says_task_and_wait_on_a_finished_job_is_quiet(
    project: Path,
) -> None:
    image = "superbatch-test-absent:1"  # not in any engine: tasks run on the host, with a warning
    job_ids = []
    for name in ("a", "a-much-longer-job-name"):
        write(
            project,
            {
                "data/x.txt": "x\n",
                f"{name}.toml": f"""\
                    name = "{name}"
                    image = "{image}"
                    command = "cat {{input}}"
                    inputs = "data/*.txt"
                    """,
            },
        )
        run = superbatch("run", f"{name}.toml", "--local", "--json", cwd=project)
        assert run.code == 0, run.stderr
        assert f"warning: image {image}" in run.stderr or "warning:" in run.stderr
        job_ids.append(job_id_of(run))

    listed = superbatch("jobs", "--local", cwd=project)
    lines = listed.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(job_ids)
    assert len({line.index("completed") for line in lines}) == 1, lines  # one column
    assert len({line.index(" task") for line in lines}) == 1, lines

    waited = superbatch("wait", job_ids[0], "--local", "--json", cwd=project)
    assert waited.code == 0 and waited.json()["state"] == "completed"
    assert waited.stderr == ""  # finished: nothing to run, so no image warning again

    fetched = superbatch("results", job_ids[0], "--local", "--json", cwd=project).json()
    manifest = json.loads(Path(fetched["manifest"]).read_text())
    assert [t["task"] for t in fetched["tasks"]] == [t["task"] for t in manifest["tasks"]] == ["0"]
    assert all("task_id" not in t for t in fetched["tasks"])


def test_editing_a_result_in_place_leaves_the_job_and_the_manifest_true(project: Path) -> None:
    write(
        project,
        {
            "params.csv": "word\nalpha\n",
            "job.toml": """\
                name = "edited"
                tasks = "params.csv"
                command = "echo {word} > w.txt"
                outputs = ["w.txt"]
                """,
        },
    )
    run = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert run.code == 0, run.stderr
    job_id = job_id_of(run)
    result = project / "results" / job_id / "0" / "w.txt"
    with result.open("a") as handle:  # an in-place edit (append), not a replace
        handle.write("my note\n")

    copy = superbatch("results", job_id, "--local", "--results", "copy", cwd=project)
    assert copy.code == 0, copy.stderr
    assert (project / "copy" / job_id / "0" / "w.txt").read_text() == "alpha\n"  # node intact
    again = superbatch("results", job_id, "--local", cwd=project)
    assert again.code == 0, again.stderr
    manifest = json.loads((project / "results" / job_id / "manifest.json").read_text())
    for entry in manifest["tasks"][0]["files"]:
        data = (project / "results" / job_id / "0" / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
