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
from superbatch.azure.outputs import OUTPUTS_ENV_VAR, load_stack_outputs
from superbatch.contract import OUTPUT_NAMES
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
    values = {name: f"value-{name}" for name in OUTPUT_NAMES}
    values.update(overrides)
    return values


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
