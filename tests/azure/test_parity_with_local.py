"""The same spec on --local and on (emulated) Azure Batch: same results tree, same manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from superbatch.local import LocalBackend
from superbatch.run import run_job
from superbatch.spec import load_spec
from tests.azure.conftest import EmulatedStack, timings_shape

ALLOW_N = """
name = "allow"
image = "docker.io/library/busybox:1.36"   # the emulator runs it on the host
command = "echo {{n}} > out.txt; test {{n}} -le 2"
tasks = "rows.csv"
outputs = ["out.txt"]

[aggregate]
command = "ls results > seen.txt"
outputs = ["seen.txt"]
allow_failures = {allow}
"""
FAILING = {"failing", "retry_on_exit", "allow_one"}  # the examples whose job is not ok

SPECS = {
    "wordcount": (
        """
name = "wordcount"
image = "docker.io/library/busybox:1.36"   # the emulator runs it on the host
command = '''mkdir -p out/deep && wc -w < {input} > out/{stem}.count \
  && cat model.txt > out/deep/m.txt && echo $MODE {index}'''
inputs = "data/*.txt"
shared = ["model.txt"]
outputs = ["out/**"]
env = { MODE = "fast" }

[aggregate]
command = "cat results/*/out/*.count > total.txt && ls results > tasks.txt && cat model.txt"
outputs = ["total.txt", "tasks.txt"]
""",
        {"data/a.txt": "one two", "data/b c.txt": "x y z", "data/it's.txt": "q", "model.txt": "M"},
    ),
    "params": (
        """
name = "params"
image = "docker.io/library/busybox:1.36"   # the emulator runs it on the host
command = "mkdir -p out && echo {label} {seed} > out/{label}.txt && echo seed=$seed >&2"
tasks = "params.csv"
outputs = ["out/*.txt"]
""",
        {"params.csv": "seed,label\n1,alpha\n2,beta\n3,gamma\n"},
    ),
    "failing": (
        """
name = "failing"
image = "docker.io/library/busybox:1.36"   # the emulator runs it on the host
command = "echo trying {n}; test {n} -ne 2 || { echo 'bad row' >&2; exit 7; }"
tasks = "rows.csv"
retries = 1

[aggregate]
command = "echo never"
""",
        {"rows.csv": "n\n1\n2\n3\n"},
    ),
    "retry_on_exit": (  # runner retries on Azure: Batch retries none, the monitor reactivates
        """
name = "retry"
image = "docker.io/library/busybox:1.36"   # the emulator runs it on the host
command = "echo try {code} >&2; exit {code}"
tasks = "codes.csv"
retries = 2
retry_on_exit = [75]
""",
        {"codes.csv": "code\n75\n2\n0\n"},
    ),
    "allow_two": (  # 2 failed, allow_failures = 2: the aggregate runs over the others
        ALLOW_N.format(allow=2),
        {"rows.csv": "n\n1\n2\n3\n4\n"},
    ),
    "allow_one": (  # 2 failed, allow_failures = 1: the aggregate does not run
        ALLOW_N.format(allow=1),
        {"rows.csv": "n\n1\n2\n3\n4\n"},
    ),
    "placed": (  # pool and slots: Batch requiredSlots; a task takes 2 of --parallel locally
        """
name = "placed"
image = "docker.io/library/busybox:1.36"   # the emulator runs it on the host
command = "mkdir -p out && echo {n} > out/{n}.txt"
tasks = "rows.csv"
outputs = ["out/*.txt"]
pool = "default"
slots = 2
""",
        {"rows.csv": "n\n1\n2\n3\n"},
    ),
}


def _write_spec(root: Path, name: str) -> Path:
    text, files = SPECS[name]
    root.mkdir(parents=True)
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content)
    spec = root / "job.toml"
    spec.write_text(text)
    return spec


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("example", sorted(SPECS))
def test_azure_results_match_local(tmp_path: Path, stack: EmulatedStack, example: str) -> None:
    job = load_spec(_write_spec(tmp_path / "spec", example))

    local = run_job(
        LocalBackend(home=tmp_path / "home", container=False, parallel=4),
        job,
        results_root=tmp_path / "local",
    )
    azure = run_job(stack.backend(), job, results_root=tmp_path / "azure")

    local_tree, azure_tree = _tree(local.results_dir), _tree(azure.results_dir)
    local_manifest = json.loads(local_tree.pop("manifest.json"))
    azure_manifest = json.loads(azure_tree.pop("manifest.json"))
    # timings differ by nature (when, which node); the same tasks and attempts ran
    local_times, azure_times = local_tree.pop("timings.json"), azure_tree.pop("timings.json")
    assert timings_shape(azure_times) == timings_shape(local_times)
    assert azure_tree == local_tree
    assert {**azure_manifest, "backend": "-"} == {**local_manifest, "backend": "-"}
    assert (local_manifest["backend"], azure_manifest["backend"]) == ("local", "azure")
    assert azure.status.ok == local.status.ok == (example not in FAILING)
