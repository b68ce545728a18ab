"""`superbatch run --local` end to end, through the real command in a subprocess."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from tests.runner.conftest import cli_env, job_id_of, superbatch, write


def test_inputs_shared_outputs_env_and_layout(project: Path) -> None:
    write(
        project,
        {
            "data/plain.txt": "one two three\n",
            "data/it's spaced.txt": "four five\n",
            "tools/count.sh": """\
                set -eu
                mkdir -p out/deep
                wc -w < "$1" | tr -d ' ' > "out/$2.count"
                echo nested > out/deep/n.txt
                echo hidden > out/.hidden
                echo dotted > .keep
                echo scratch > scratch.tmp
                env | grep -E '^(AZ_BATCH_|MODE=|LABEL=)' | sort > env.txt
                pwd > pwd.txt
                echo "stdout of $AZ_BATCH_TASK_ID"
                """,
            "job.toml": """\
                name = "layout"
                command = "sh tools/count.sh {input} {stem}"
                inputs = "data/*.txt"
                shared = ["tools/count.sh"]
                outputs = ["out/**", "env.txt", "pwd.txt", ".keep"]
                env = { MODE = "fast", LABEL = "a b" }
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert result.code == 0, result.stderr
    job_id = job_id_of(result)
    assert job_id.startswith("layout-")
    root = project / "results" / job_id
    # Task ids are stable, in sorted input order: 0 = "it's spaced.txt", 1 = plain.txt.
    assert (root / "0" / "out" / "it's spaced.count").read_text() == "2\n"
    assert (root / "1" / "out" / "plain.count").read_text() == "3\n"
    for task in ("0", "1"):
        task_dir = root / task
        assert (task_dir / "out" / "deep" / "n.txt").read_text() == "nested\n"
        assert not (task_dir / "out" / ".hidden").exists()  # ** skips dot-files
        assert (task_dir / ".keep").exists()  # matched explicitly
        assert not (task_dir / "scratch.tmp").exists()  # matched by no pattern
        assert (task_dir / "_logs" / "stdout.txt").read_text() == f"stdout of {task}\n"
        env = dict(line.split("=", 1) for line in (task_dir / "env.txt").read_text().splitlines())
        assert env["MODE"] == "fast" and env["LABEL"] == "a b"
        assert env["AZ_BATCH_JOB_ID"] == job_id and env["AZ_BATCH_TASK_ID"] == task
        node = Path(env["AZ_BATCH_NODE_ROOT_DIR"])
        assert env["AZ_BATCH_TASK_DIR"] == str(node / "workitems" / job_id / "job-1" / task)
        assert env["AZ_BATCH_TASK_WORKING_DIR"] == env["AZ_BATCH_TASK_DIR"] + "/wd"
        assert env["AZ_BATCH_NODE_SHARED_DIR"] == str(node / "shared")
        assert (task_dir / "pwd.txt").read_text().strip() == env["AZ_BATCH_TASK_WORKING_DIR"]
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["job_id"] == job_id and manifest["backend"] == "local"
    assert manifest["aggregate"] is None
    for entry in manifest["tasks"]:
        assert (entry["state"], entry["exit_code"], entry["attempts"]) == ("succeeded", 0, 1)
        on_disk = sorted(
            p.relative_to(root / entry["task"]).as_posix()
            for p in (root / entry["task"]).rglob("*")
            if p.is_file()
        )
        assert [f["path"] for f in entry["files"]] == on_disk
        for item in entry["files"]:
            data = (root / entry["task"] / item["path"]).read_bytes()
            assert item["size"] == len(data)
            assert item["sha256"] == hashlib.sha256(data).hexdigest()


def test_failing_task_shows_stderr_and_others_are_collected(project: Path) -> None:
    write(
        project,
        {
            "params.csv": "n\n1\n2\n3\n",
            "job.toml": """\
                name = "failing"
                tasks = "params.csv"
                command = '''echo out-{n} > r.txt
                if [ {n} = 2 ]; then echo 'boom: bad value 2' >&2; exit 7; fi'''
                outputs = ["r.txt"]
                [aggregate]
                command = "cat results/*/r.txt > all.txt"
                outputs = ["all.txt"]
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", cwd=project)
    assert result.code == 1
    assert "task 1 (n=2) failed: exit code 7" in result.stdout
    assert "boom: bad value 2" in result.stdout
    assert "aggregate step not run" in result.stdout
    job_dir = next((project / "results").iterdir())
    assert (job_dir / "0" / "r.txt").read_text() == "out-1\n"
    assert (job_dir / "2" / "r.txt").read_text() == "out-3\n"
    assert (job_dir / "1" / "r.txt").read_text() == "out-2\n"  # outputs of failures too
    assert "boom" in (job_dir / "1" / "_logs" / "stderr.txt").read_text()
    manifest = json.loads((job_dir / "manifest.json").read_text())
    states = [(t["task"], t["state"], t["exit_code"]) for t in manifest["tasks"]]
    assert states == [("0", "succeeded", 0), ("1", "failed", 7), ("2", "succeeded", 0)]
    assert manifest["aggregate"]["state"] == "queued"
    assert not (job_dir / "_aggregate").exists()


def test_retries_until_success_and_until_exhausted(project: Path, tmp_path: Path) -> None:
    counters = tmp_path / "counters"
    counters.mkdir()
    write(
        project,
        {
            "params.csv": "name,succeed_on\nflaky,3\nhopeless,99\n",
            "job.toml": f"""\
                name = "retries"
                tasks = "params.csv"
                retries = 2
                env = {{ COUNTERS = "{counters}" }}
                command = '''echo x >> $COUNTERS/{{name}}; n=$(wc -l < $COUNTERS/{{name}})
                echo attempt $n >&2; [ $n -ge {{succeed_on}} ]'''
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert result.code == 1
    manifest = json.loads(Path(result.json()["manifest"]).read_text())
    flaky, hopeless = manifest["tasks"]
    assert (flaky["state"], flaky["attempts"], flaky["exit_code"]) == ("succeeded", 3, 0)
    assert (hopeless["state"], hopeless["attempts"], hopeless["exit_code"]) == ("failed", 3, 1)
    assert (counters / "flaky").read_text().count("x") == 3
    assert (counters / "hopeless").read_text().count("x") == 3
    failure = result.json()["failed"][0]
    assert failure["failure"] == "exit code 1 (after 3 attempts)"
    assert failure["stderr_tail"] == "attempt 3"  # the last attempt's log


def test_timeout_kills_the_whole_process_group(project: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    write(
        project,
        {
            "params.csv": "x\n1\n",
            "job.toml": f"""\
                name = "timeout"
                tasks = "params.csv"
                timeout = "1s"
                command = "sleep 300 & echo $! > {pid_file}; sleep 300"
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert result.code == 1
    failed = result.json()["failed"]
    assert [(t["task"], t["failure"], t["exit_code"]) for t in failed] == [
        ("0", "timed out after 1s", None)
    ]
    background = int(pid_file.read_text())
    stat = Path(f"/proc/{background}/stat")
    # Killed with its group: gone, or a zombie waiting for a reaper that is not us.
    assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")


def test_aggregate_sees_every_task_output(project: Path) -> None:
    write(
        project,
        {
            "data/a.txt": "x y\n",
            "data/b.txt": "x y z\n",
            "data/c.txt": "x\n",
            "job.toml": """\
                name = "agg"
                inputs = "data/*.txt"
                command = "mkdir out && wc -w < {input} | tr -d ' ' > out/n.txt"
                outputs = ["out/*.txt"]
                env = { GREETING = "hi" }
                [aggregate]
                command = '''find results -type f | sort > seen.txt
                cat results/*/out/n.txt | awk '{s+=$1} END {print s}' > total.txt
                echo $GREETING $AZ_BATCH_TASK_ID > who.txt'''
                outputs = ["total.txt", "seen.txt", "who.txt"]
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert result.code == 0, result.stdout + result.stderr
    assert result.json()["aggregate"]["state"] == "succeeded"
    agg = project / "results" / job_id_of(result) / "_aggregate"
    assert (agg / "total.txt").read_text() == "6\n"
    assert (agg / "seen.txt").read_text().split() == [
        "results/0/out/n.txt",
        "results/1/out/n.txt",
        "results/2/out/n.txt",
    ]  # outputs only, no logs
    assert (agg / "who.txt").read_text() == "hi _aggregate\n"
    assert (agg / "_logs" / "stderr.txt").exists()
    manifest = json.loads((agg.parent / "manifest.json").read_text())
    assert [f["path"] for f in manifest["aggregate"]["files"]] == [
        "_logs/stderr.txt",
        "_logs/stdout.txt",
        "seen.txt",
        "total.txt",
        "who.txt",
    ]


def test_placeholders_are_shell_quoted(project: Path) -> None:
    write(
        project,
        {
            "params.csv": 'word\n"a b"\n"it\'s"\n$(touch pwned)\n',
            "job.toml": """\
                name = "quoting"
                tasks = "params.csv"
                command = '''printf '%s|' {word} > w.txt
                echo ${HOME:+home-set} >> w.txt; echo {{word}} >> w.txt'''
                outputs = ["w.txt"]
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--json", cwd=project)
    assert result.code == 0, result.stderr
    root = project / "results" / job_id_of(result)
    assert [(root / str(i) / "w.txt").read_text() for i in range(3)] == [
        "a b|home-set\n{word}\n",
        "it's|home-set\n{word}\n",
        "$(touch pwned)|home-set\n{word}\n",
    ]
    assert not list(project.rglob("pwned"))


def test_shared_glob_stages_a_folders_files_at_their_paths(project: Path) -> None:
    write(
        project,
        {
            "data/a.txt": "a\n",
            "lib/top.txt": "top\n",
            "lib/sub/deep.txt": "deep\n",
            "job.toml": """\
                name = "sharedglob"
                command = "cat lib/top.txt lib/sub/deep.txt {input} > out.txt"
                inputs = "data/*.txt"
                shared = ["lib/**/*", "lib/top.txt"]
                outputs = ["out.txt"]
                """,
        },
    )
    result = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert result.code == 0, result.stderr
    out = project / "results" / job_id_of(result) / "0" / "out.txt"
    assert out.read_text() == "top\ndeep\na\n"


def test_a_log_gets_a_counts_line_every_interval_and_a_short_run_none(project: Path) -> None:
    """stderr that is not a terminal (CI logs) cannot redraw a bar: plain lines instead."""
    write(
        project,
        {
            "params.csv": "n\n1\n2\n3\n",
            "job.toml": 'name = "slow"\ntasks = "params.csv"\ncommand = "sleep 0.7"\n',
            "quick.toml": 'name = "quick"\ntasks = "params.csv"\ncommand = "true {n}"\n',
        },
    )
    env = cli_env({"SUPERBATCH_PROGRESS_EVERY": "0.3"})
    args = ("--local", "--no-container", "--parallel", "1")
    result = superbatch("run", "job.toml", *args, "--json", cwd=project, env=env)
    assert result.code == 0, result.stderr
    job_id = job_id_of(result)
    lines = result.stderr.splitlines()
    assert lines, "no progress line in 2 s of tasks"
    pattern = re.compile(rf"^{job_id}: ([0-3])/3 done after \d+ s: queued \d  running [01]  ")
    done = [int(m.group(1)) for m in map(pattern.match, lines) if m]
    assert len(done) == len(lines), lines  # nothing else on stderr: no bar, no escapes
    assert done == sorted(done) and len(set(done)) == len(done)  # only when counts change
    quick = superbatch("run", "quick.toml", *args, cwd=project)  # default: every 30 s
    assert quick.code == 0 and quick.stderr == "", quick.stderr


def test_a_bad_progress_interval_is_one_line_before_anything_runs(project: Path) -> None:
    write(
        project,
        {
            "params.csv": "n\n1\n",
            "job.toml": 'name = "x"\ntasks = "params.csv"\ncommand = "touch ran"\n',
        },
    )
    for value in ("soon", "0", "-5", "inf"):
        env = cli_env({"SUPERBATCH_PROGRESS_EVERY": value})
        result = superbatch("run", "job.toml", "--local", "--no-container", cwd=project, env=env)
        assert result.code == 3, result.stderr
        assert result.stderr.splitlines() == [
            f"error: SUPERBATCH_PROGRESS_EVERY={value!r}: give seconds between progress lines"
        ]
    assert not (project / ".superbatch").exists() and not (project / "results").exists()


def test_a_finished_job_run_again_warns_about_nothing(project: Path) -> None:
    """The image warning is for tasks about to run on the host: none run the second time."""
    write(
        project,
        {
            "params.csv": "n\n1\n2\n",
            "job.toml": 'name = "img"\nimage = "docker.io/library/busybox:1.36"\n'
            'tasks = "params.csv"\ncommand = "echo {n} > n.txt"\noutputs = ["n.txt"]\n',
        },
    )
    env = cli_env({"PATH": str(project / "no-engines-here")})  # neither docker nor podman
    first = superbatch("run", "job.toml", "--local", "--json", cwd=project, env=env)
    assert first.code == 0, first.stderr
    assert "warning: no working container engine" in first.stderr
    again = superbatch("run", "job.toml", "--local", "--json", cwd=project, env=env)
    assert again.code == 0 and again.stderr == "", again.stderr
    assert again.json()["job_id"] == first.json()["job_id"]
    waited = superbatch("wait", job_id_of(first), "--local", cwd=project, env=env)
    assert waited.code == 0 and waited.stderr == "", waited.stderr
