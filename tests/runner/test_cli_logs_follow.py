"""logs -f through the real command on --local: lines written after it started, then it ends."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.runner.conftest import popen_superbatch, superbatch, write


def _waiting_job(root: Path, image: str | None = None) -> None:
    go = root / "go"
    image_line = f'image = "{image}"\n' if image else ""
    write(
        root,
        {
            "p.csv": "n\n1\n2\n",
            "job.toml": f'name = "talk"\n{image_line}tasks = "p.csv"\n'
            f"command = '''echo before {{n}}; echo oops >&2\n"
            f"while [ ! -e {go} ]; do sleep 0.1; done; echo after {{n}}'''\n",
        },
    )


def follow_until_after(args: tuple[str, ...], root: Path) -> tuple[int, str, str]:
    """Start `logs -f`, see its first line, then let the task go on; return what it printed."""
    follower = popen_superbatch(*args, cwd=root)
    assert follower.stdout is not None
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(follower.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=90)
    assert first and first[0] == "before 1\n", first
    (root / "go").touch()  # only now does the task write its next line, and end
    rest, err = follower.communicate(timeout=90)
    return follower.returncode, first[0] + rest, err


def test_logs_follow_prints_what_comes_and_ends_with_the_task(project: Path) -> None:
    _waiting_job(project)
    args = ("--local", "--no-container", "--parallel", "1")
    detached = superbatch("run", "job.toml", *args, "--detach", "--json", cwd=project)
    job_id = detached.json()["job_id"]

    queued = superbatch("logs", job_id, "1", "--local", cwd=project)
    assert queued.code == 5 and queued.stdout == ""  # not an empty log
    assert "task 1 of job" in queued.stderr and "has not run yet" in queued.stderr
    waiting = popen_superbatch("logs", job_id, "1", "--local", "-f", cwd=project)
    assert waiting.stderr is not None  # it has looked (task 1 queued) before task 0 goes on
    said_first = waiting.stderr.readline()

    code, out, err = follow_until_after(("logs", job_id, "0", "--local", "-f"), project)
    assert code == 0, err
    assert out == "before 1\nafter 1\n" and err == "oops\n"  # task stderr to stderr
    rest, err1 = waiting.communicate(timeout=90)  # task 1 ran after task 0: followed to its end
    assert waiting.returncode == 0, err1
    assert said_first + err1 == "task 1 has not started yet (queued)\noops\n"
    assert rest == "before 2\nafter 2\n"
    tail = superbatch(
        "logs", "last", "0", "--local", "--tail", "1", "--stream", "stdout", cwd=project
    )
    assert tail.stdout == "after 1\n"
    assert superbatch("wait", job_id, "--local", cwd=project).code == 0
