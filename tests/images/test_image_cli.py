"""``superbatch image build|push|list`` through the real commands, on podman and on docker
(both started by the suite), with the real docker-registry and the fake ACR token service in
front of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from superbatch.cli.image import image_app
from superbatch.errors import ConfigError, SpecError
from superbatch.images.resolve import check_image_in_registry
from tests.images.fake_acr import FakeAcr
from tests.images.local_registry import LocalRegistry
from tests.support.engines import EngineUnderTest

pytestmark = pytest.mark.container


def invoke(*args: str) -> tuple[int, str, str, BaseException | None]:
    result = CliRunner().invoke(image_app, list(args))
    return result.exit_code, result.stdout, result.stderr, result.exception


def small_project(root: Path, base: str, *, message: str = "hello") -> Path:
    context = root / "container"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY run.sh /app/run.sh\nUSER 1000:1000\n")
    (context / "run.sh").write_text(f"echo {message}\n")
    return context


def test_build_tags_by_content_and_never_moves_a_tag(
    tmp_path: Path, engine: EngineUnderTest, base_image: str
) -> None:
    context = small_project(tmp_path / "proj", base_image, message=uuid.uuid4().hex)  # fresh
    code, out, err, error = invoke("build", str(context), "--json", "--engine", engine.name)
    assert code == 0, f"{error!r} {err}"
    first = json.loads(out)
    assert first["image"].startswith("proj:") and first["created"] is True
    code, out, _, _ = invoke("build", str(context), "--json", "--engine", engine.name)
    again = json.loads(out)
    assert (
        again["image"] == first["image"]
        and again["created"] is False
        and again["id"] == first["id"]
    )

    # the target platform is part of what the image is, so of its tag (this host is amd64)
    code, out, err, error = invoke(
        "build", str(context), "--platform", "linux/amd64", "--json", "--engine", engine.name
    )
    assert code == 0, f"{error!r} {err}"
    assert json.loads(out)["image"] != first["image"]

    (context / "run.sh").write_text(f"echo changed {uuid.uuid4().hex}\n")
    code, out, _, _ = invoke("build", str(context), "--engine", engine.name)
    assert code == 0 and out.strip() != first["image"] and out.strip().startswith("proj:")

    # an explicit tag that already names other content is refused and left alone
    code, _, _, error = invoke(
        "build", str(context), "--tag", first["image"].split(":")[1], "--engine", engine.name
    )
    assert isinstance(error, ConfigError) and "never moved" in str(error)
    assert engine.image_id(engine.local_name(first["image"])) == first["id"]

    code, _, _, error = invoke("build", str(context), "--tag", "latest", "--engine", engine.name)
    assert isinstance(error, ConfigError) and "moves with every build" in str(error)


def _files_containing(roots: list[Path], needles: set[str]) -> set[Path]:
    hits = set()
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if any(needle.encode() in data for needle in needles):
                    hits.add(path)
    return hits


def test_push_exchanges_the_entra_token_and_keeps_it_secret(
    tmp_path: Path,
    engine: EngineUnderTest,
    base_image: str,
    fake_acr: FakeAcr,
    fake_az: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    small_project(tmp_path / "secretproj", base_image, message=uuid.uuid4().hex)
    monkeypatch.chdir(tmp_path / "secretproj")
    before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*") if path.is_file()}

    # no IMAGE: builds the project's container/ first, then pushes under the content tag
    code, out, err, error = invoke(
        "push", "--registry", fake_acr.login_server, "--engine", engine.name, "--json"
    )
    assert code == 0, f"{error!r} {err}"
    pushed = json.loads(out)
    assert (
        pushed["image"].startswith(f"{fake_acr.login_server}/secretproj:")
        and pushed["pushed"] is True
    )
    assert pushed["digest"].startswith("sha256:")

    # the engine was logged in with the ACR refresh token, which it keeps in its own store
    auth_file = engine.auth_file
    assert fake_acr.login_server in json.loads(auth_file.read_text())["auths"]
    exchanges = [form for method, path, form in fake_acr.state.calls if path == "/oauth2/exchange"]
    assert exchanges and exchanges[-1]["grant_type"] == ["access_token"]
    # ... and the engine itself traded it for access tokens (Basic auth with the null GUID user)
    assert any(
        method == "GET" and path == "/oauth2/token" for method, path, _ in fake_acr.state.calls
    )

    # a second push of the same content is a no-op; list shows the tag
    code, out, _, _ = invoke(
        "push", pushed["image"].split("/", 1)[1], "--registry", fake_acr.login_server, "--json",
        "--engine", engine.name,
    )  # fmt: skip
    assert json.loads(out)["pushed"] is False
    code, out, _, _ = invoke("list", "secretproj", "--registry", fake_acr.login_server, "--json")
    assert code == 0
    assert pushed["image"].rsplit(":", 1)[1] in json.loads(out)["repositories"]["secretproj"]

    # no secret in anything printed, and none on disk outside the engine's auth file
    secrets = fake_acr.all_secrets() | {fake_az}
    assert not any(secret in out + err for secret in secrets)
    written = _files_containing([tmp_path, auth_file.parent, *engine.state_dirs], secrets)
    assert written <= {auth_file}, written
    assert {p for p in tmp_path.rglob("*") if p.is_file()} - set(before) - {auth_file} == set()


def test_check_image_in_registry_for_the_azure_backend(
    engine: EngineUnderTest,
    base_image: str,
    fake_acr: FakeAcr,
    fake_az: str,
    tmp_path: Path,
) -> None:
    from azure.identity import AzureCliCredential

    context = small_project(tmp_path / "checked", base_image, message=uuid.uuid4().hex)
    code, out, _, error = invoke(
        "push", "--dir", str(context), "--registry", fake_acr.login_server, "--json",
        "--engine", engine.name,
    )  # fmt: skip
    assert code == 0, repr(error)
    short = json.loads(out)["image"].split("/", 1)[1]
    digest = check_image_in_registry(short, fake_acr.login_server, credential=AzureCliCredential())
    assert digest == json.loads(out)["digest"]
    with pytest.raises(SpecError, match=r"is not in registry .* run `superbatch image push`"):
        check_image_in_registry(
            "checked:000000000000", fake_acr.login_server, credential=AzureCliCredential()
        )
    assert check_image_in_registry("ghcr.io/x/y:1", fake_acr.login_server, credential=None) is None


def test_registry_choice_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "outputs.json"
    bad.write_text(json.dumps({"registry_login_server": "x.azurecr.io"}))
    cases = [
        (["push", "a:1"], "exactly one of --stack"),
        (["push", "a:1", "--registry", "a.io", "--outputs", str(bad)], "exactly one of --stack"),
        (["list", "--outputs", str(bad)], "is missing stack output(s): batch_account_endpoint"),
        (["list", "--outputs", str(tmp_path / "nope.json")], "stack outputs file not found"),
        (["build", str(tmp_path)], "no Dockerfile"),
        (["build", str(tmp_path / "nonexist")], "nonexist does not exist"),
        (["push", "--dir", str(tmp_path / "nonexist"), "--registry", "a.io"], "does not exist"),
        (["build", str(tmp_path), "--build-arg", "NOEQUALS"], "use KEY=VALUE"),
    ]
    for args, message in cases:
        _, _, _, error = invoke(*args)
        assert isinstance(error, ConfigError) and message in str(error), (args, error)
    superbatch = str(Path(sys.executable).parent / "superbatch")  # the real entry point
    result = subprocess.run(
        [superbatch, "image", "push", "a:1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == ConfigError.exit_code
    # one line, no traceback
    assert len(result.stderr.splitlines()) == 1
    said = result.stderr.strip()
    assert said.startswith("error: say which registry: give exactly one of --stack NAME")
    assert said.count("error:") == 1 and "Traceback" not in said and result.stdout == ""


def test_push_to_a_registry_named_in_stack_outputs(
    tmp_path: Path,
    engine: EngineUnderTest,
    base_image: str,
    local_registry: LocalRegistry,
) -> None:
    from superbatch.contract import OPTIONAL_OUTPUTS, OUTPUT_NAMES

    outputs = {name: f"value-{name}" for name in OUTPUT_NAMES if name not in OPTIONAL_OUTPUTS} | {
        "registry_login_server": local_registry.host
    }
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    context = small_project(tmp_path / "viaoutputs", base_image, message=uuid.uuid4().hex)
    code, out, _, error = invoke(
        "push", "--dir", str(context), "--outputs", str(outputs_file), "--json",
        "--engine", engine.name,
    )  # fmt: skip
    assert code == 0, repr(error)
    pushed = json.loads(out)
    assert pushed["image"].startswith(f"{local_registry.host}/viaoutputs:")
    # a registry without auth (no challenge) needs no credential for the pre-submit check
    short = pushed["image"].split("/", 1)[1]
    assert check_image_in_registry(short, local_registry.host, credential=None) == pushed["digest"]


def test_a_registry_tag_holding_other_content_is_never_overwritten(
    tmp_path: Path,
    engine: EngineUnderTest,
    base_image: str,
    local_registry: LocalRegistry,
) -> None:
    name = f"clash{uuid.uuid4().hex[:8]}"  # a fresh repository each run
    first = small_project(tmp_path / "a", base_image, message=uuid.uuid4().hex)
    code, _, _, error = invoke(
        "build", str(first), "--name", name, "--tag", "v1", "--engine", engine.name
    )
    assert code == 0, repr(error)
    code, _, _, error = invoke(
        "push", f"{name}:v1", "--registry", local_registry.host, "--engine", engine.name
    )
    assert code == 0, repr(error)
    before = json.loads(invoke("list", name, "--registry", local_registry.host, "--json")[1])

    # another machine (here: the same one after forgetting the tag) builds other content as v1
    engine("rmi", engine.local_name(f"{name}:v1"))
    second = small_project(tmp_path / "b", base_image, message=uuid.uuid4().hex)
    code, _, _, error = invoke(
        "build", str(second), "--name", name, "--tag", "v1", "--engine", engine.name
    )
    assert code == 0, repr(error)
    code, _, _, error = invoke(
        "push", f"{name}:v1", "--registry", local_registry.host, "--engine", engine.name
    )
    assert isinstance(error, ConfigError) and "already holds another image" in str(error)
    after = json.loads(invoke("list", name, "--registry", local_registry.host, "--json")[1])
    assert after == before


def test_stack_option_reads_the_stack_outputs(
    tmp_path: Path,
    local_registry: LocalRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--stack NAME goes through the shared stack-outputs loader, which runs
    `pulumi stack output --json --show-secrets=false --stack NAME` (a stand-in pulumi here)."""
    from superbatch.contract import OPTIONAL_OUTPUTS, OUTPUT_NAMES

    outputs = {name: f"value-{name}" for name in OUTPUT_NAMES if name not in OPTIONAL_OUTPUTS}
    outputs["registry_login_server"] = local_registry.host
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(
        "#!/bin/sh\n"
        '[ "$*" = "stack output --json --show-secrets=false --stack dev" ] || '
        "{ echo \"error: no stack named '$6' found\" >&2; exit 255; }\n"
        f"cat <<'JSON'\n{json.dumps(outputs)}\nJSON\n"
    )
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    code, out, _, error = invoke("list", "--stack", "dev", "--json")
    assert code == 0, repr(error)
    assert json.loads(out)["registry"] == local_registry.host
    code, _, _, error = invoke("list", "--stack", "prod")
    assert isinstance(error, ConfigError)
    assert "Pulumi stack 'prod' not found (error: no stack named 'prod' found)" in str(error)


def test_an_engine_failure_exits_with_its_own_code(tmp_path: Path, engine: EngineUnderTest) -> None:
    """A failed build is the engine's (exit 8, README "Commands"), not Azure's (4) nor a
    configuration mistake (3): one line with the engine's last words, through the real CLI."""
    from superbatch.errors import EngineError

    context = tmp_path / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {engine.busybox()}\nRUN echo step-fails && false\n")
    superbatch = str(Path(sys.executable).parent / "superbatch")
    result = subprocess.run(
        [superbatch, "image", "build", str(context), "--engine", engine.name],
        env=engine.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == EngineError.exit_code == 8, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {engine.name} build {context.resolve()} failed (exit ")
    assert "Traceback" not in result.stderr
