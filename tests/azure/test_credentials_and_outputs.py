from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from superbatch.azure.credentials import (
    BATCH_SCOPE,
    STORAGE_SCOPE,
    check_credential,
    default_credential,
)
from superbatch.azure.outputs import OUTPUTS_ENV_VAR, PULUMI_DIR_ENV_VAR, load_stack_outputs
from superbatch.contract import OPTIONAL_OUTPUTS, OUTPUT_NAMES
from superbatch.errors import ConfigError


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_default_chain_gets_a_batch_token_from_the_cli(fake_az_login: Path) -> None:
    credential = default_credential()

    token = credential.get_token(BATCH_SCOPE)
    again = credential.get_token(BATCH_SCOPE)
    storage = credential.get_token(STORAGE_SCOPE)

    assert _claims(token.token)["aud"] == "https://batch.core.windows.net/"
    assert _claims(storage.token)["aud"] == "https://storage.azure.com"
    assert again is token  # cached: `az` ran once per scope
    assert fake_az_login.read_text().splitlines() == [
        "https://batch.core.windows.net/",
        "https://storage.azure.com",
    ]


def test_logged_out_cli_says_az_login(fake_az_login: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_AZ_LOGGED_OUT", "1")

    with pytest.raises(ConfigError, match="az login"):
        check_credential(default_credential())


def test_bad_credential_switch_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "NoSuchCredential")

    with pytest.raises(ConfigError, match="AZURE_TOKEN_CREDENTIALS"):
        default_credential()


def _outputs(**overrides: str) -> dict[str, str]:
    """Outputs of a stack from before ``pools`` (the runner must still read them)."""
    values = {name: f"value-{name}" for name in OUTPUT_NAMES if name not in OPTIONAL_OUTPUTS}
    values.update(overrides)
    return values


def test_a_stack_from_before_pools_has_one_pool_default(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(_outputs(pool_id="old-pool")))
    outputs = load_stack_outputs(outputs_file=path)
    assert list(outputs.pools) == ["default"]
    assert outputs.pool(None).id == "old-pool" and outputs.pool(None).slots is None


def test_the_pools_output_is_read(tmp_path: Path) -> None:
    pools = {
        "default": {"id": "p0", "vmSize": "Standard_D2s_v5", "cores": 2, "slots": 1},
        "gpu": {"id": "p1", "vmSize": "Standard_NC4as_T4_v3", "gpus": 1, "gpu": True},
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({**_outputs(pool_id="p0"), "pools": pools}))
    outputs = load_stack_outputs(outputs_file=path)
    assert [(p.name, p.id, p.gpu) for p in outputs.pools.values()] == [
        ("default", "p0", False),
        ("gpu", "p1", True),
    ]
    path.write_text(json.dumps({**_outputs(), "pools": {"big": {"cores": 2}}}))
    with pytest.raises(ConfigError, match=r"pools\.big has no pool id"):
        load_stack_outputs(outputs_file=path)


def test_outputs_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(_outputs(pool_id="pool-1", extra="ignored")))

    outputs = load_stack_outputs(outputs_file=path)

    assert outputs.pool_id == "pool-1"


def test_outputs_from_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps(_outputs(pool_id="from-env")))

    outputs = load_stack_outputs(environ={OUTPUTS_ENV_VAR: str(path)})

    assert outputs.pool_id == "from-env"


def test_missing_key_is_named(tmp_path: Path) -> None:
    values = _outputs()
    del values["registry_login_server"]
    path = tmp_path / "o.json"
    path.write_text(json.dumps(values))

    with pytest.raises(ConfigError, match="registry_login_server"):
        load_stack_outputs(outputs_file=path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("{not json", "not valid JSON"), ("[1]", "JSON object")],
)
def test_bad_outputs_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "o.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(ConfigError, match=message):
        load_stack_outputs(outputs_file=path)


def test_stack_without_pulumi_cli_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Pulumi CLI is not installed"):
        load_stack_outputs(stack="dev", environ={"PATH": str(tmp_path)})


def test_no_source_at_all_lists_the_options() -> None:
    with pytest.raises(ConfigError, match="--stack NAME"):
        load_stack_outputs(environ={})


@pytest.fixture
def fake_pulumi(tmp_path: Path) -> dict[str, str]:
    """``pulumi`` on PATH (tests/azure/fake_pulumi.py) knowing stacks dev and org/sb/dev."""
    from tests.azure.fake_pulumi import install_fake_pulumi

    bin_dir = tmp_path / "fake-pulumi-bin"
    install_fake_pulumi(bin_dir)
    stacks = tmp_path / "stacks.json"
    stacks.write_text(
        json.dumps({"dev": _outputs(pool_id="dev-pool"), "org/sb/dev": _outputs(pool_id="fq")})
    )
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_PULUMI_STACKS": str(stacks),
        "FAKE_PULUMI_LOG": str(tmp_path / "pulumi-calls.log"),
    }


def _calls(environ: dict[str, str]) -> list[dict[str, object]]:
    lines = Path(environ["FAKE_PULUMI_LOG"]).read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_stack_outputs_from_any_folder(tmp_path: Path, fake_pulumi: dict[str, str]) -> None:
    project = tmp_path / "repo"
    (project / "infra").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: superbatch\nruntime: python\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # in the project or below it, as Pulumi itself finds Pulumi.yaml upwards
    assert load_stack_outputs(stack="dev", environ=fake_pulumi, cwd=project / "infra").pool_id == (
        "dev-pool"
    )
    # anywhere else: the project folder from SUPERBATCH_PULUMI_DIR, given to Pulumi as --cwd
    with_dir = {**fake_pulumi, PULUMI_DIR_ENV_VAR: str(project)}
    assert load_stack_outputs(stack="dev", environ=with_dir, cwd=elsewhere).pool_id == "dev-pool"
    assert _calls(fake_pulumi)[-1]["argv"][-2:] == ["--cwd", str(project)]
    # or a fully qualified name, which needs no project
    assert (
        load_stack_outputs(stack="org/sb/dev", environ=fake_pulumi, cwd=elsewhere).pool_id == "fq"
    )


def test_stack_errors_say_where_to_run(tmp_path: Path, fake_pulumi: dict[str, str]) -> None:
    project = tmp_path / "repo"
    (project / "infra").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: superbatch\nruntime: python\n")

    with pytest.raises(ConfigError, match=f"Pulumi found no project.*{PULUMI_DIR_ENV_VAR}=DIR"):
        load_stack_outputs(stack="dev", environ=fake_pulumi, cwd=tmp_path)
    with pytest.raises(ConfigError, match="not found") as unknown:
        load_stack_outputs(stack="prod", environ=fake_pulumi, cwd=project)
    assert "infra/ folder" not in str(unknown.value)  # infra/ holds no Pulumi.yaml
    assert "folder with the stack's Pulumi.yaml" in str(unknown.value)
    calls = len(_calls(fake_pulumi))
    bad_dir = {**fake_pulumi, PULUMI_DIR_ENV_VAR: str(project / "infra")}
    with pytest.raises(ConfigError, match=r"holds no Pulumi\.yaml"):
        load_stack_outputs(stack="dev", environ=bad_dir, cwd=tmp_path)
    assert len(_calls(fake_pulumi)) == calls  # refused before Pulumi ran
