"""Two environments from one repository: the runner's (quick start) and the Pulumi program's.

The quick start (`uv run superbatch ...` at the root) installs only what running a job needs:
the root project has no default dependency groups. `pulumi up` runs a plain `uv sync` in
the program directory (Pulumi's uv toolchain, `main: infra/`) into `infra/.venv`
(`Pulumi.yaml`), from infra/'s own project and lock, which pin what the root's `infra`
group (used by these tests) pins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
HEAVY = ("pulumi", "pulumi-azure-native", "mypy", "ruff", "pytest", "hypothesis")


def _uv() -> str:
    uv = shutil.which("uv")
    assert uv is not None, "uv is not on PATH: scripts/install-test-deps installs it"
    return uv


def _locked_versions(lock: Path) -> dict[str, str]:
    data = tomllib.loads(lock.read_text())
    return {p["name"]: p["version"] for p in data["package"] if "version" in p}


def _exported(project: Path) -> set[str]:
    """Package names `uv sync` would install for ``project``'s defaults (from its lock)."""
    out = subprocess.run(
        [_uv(), "export", "--frozen", "--no-hashes", "--no-header", "--project", str(project)],
        capture_output=True, text=True, check=True, cwd=project,
    ).stdout  # fmt: skip
    return {
        line.split("==")[0].strip().lower()
        for line in out.splitlines()
        if "==" in line and not line.startswith(" ")
    }


def test_the_quick_start_installs_no_pulumi_and_no_dev_tools() -> None:
    installed = _exported(ROOT)
    assert "azure-batch" in installed and "typer" in installed
    assert not installed & set(HEAVY), sorted(installed & set(HEAVY))


def test_the_program_environment_has_the_pulumi_packages_with_the_tests_pins() -> None:
    assert {"pulumi", "pulumi-azure-native"} <= _exported(INFRA)
    pulumi_yaml = (ROOT / "Pulumi.yaml").read_text()
    assert "main: infra/" in pulumi_yaml and "virtualenv: infra/.venv" in pulumi_yaml
    program = tomllib.loads((INFRA / "pyproject.toml").read_text())["project"]["dependencies"]
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert sorted(program) == sorted(root["dependency-groups"]["infra"])
    ours, theirs = _locked_versions(ROOT / "uv.lock"), _locked_versions(INFRA / "uv.lock")
    drift = {n: (ours[n], v) for n, v in theirs.items() if n in ours and ours[n] != v}
    assert not drift, f"infra/uv.lock and uv.lock disagree (root, infra): {drift}"


def test_pulumis_uv_sync_in_the_program_dir_gives_an_environment_that_imports_it(
    tmp_path: Path,
) -> None:
    """What `pulumi up` does, offline from uv's cache (the same pins the suite installed)."""
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    sync = subprocess.run(
        [_uv(), "sync", "--frozen", "--offline", "--quiet"],
        cwd=INFRA, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if sync.returncode != 0:
        pytest.fail(f"uv sync in infra/ failed (run `uv sync --all-groups` once): {sync.stderr}")
    program = (
        "import sys; "
        "import pulumi, pulumi_azure_native.batch; "
        f"sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'runner')!r}]; "
        "import infra.stack, infra.settings; print('ok')"
    )
    ran = subprocess.run(
        [str(venv / "bin" / "python"), "-c", program],
        cwd=INFRA, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.stdout == "ok\n", ran.stderr
    assert not (venv / "bin" / "superbatch").exists()  # the runner is not in it
