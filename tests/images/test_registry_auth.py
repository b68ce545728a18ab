"""The documented ACR exchange against the loopback fake (real registry behind it)."""

from __future__ import annotations

import pytest

from superbatch.errors import ConfigError, RemoteError
from superbatch.images.registry import RegistryClient, connect, needs_login
from superbatch.images.tokens import exchange_refresh_token, tenant_of
from tests.images.conftest import TENANT
from tests.images.fake_acr import FakeAcr
from tests.images.local_registry import LocalRegistry


class StaticCredential:
    """An azure-identity style credential holding one token (the Azure boundary)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> object:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, 4102444800)


def test_exchange_sends_the_documented_form(fake_acr: FakeAcr) -> None:
    entra = fake_acr.issue_entra_token()
    assert tenant_of(entra) == TENANT
    fake_acr.state.calls.clear()
    refresh = exchange_refresh_token(fake_acr.login_server, entra)
    assert refresh in fake_acr.state.refresh_tokens
    method, path, form = fake_acr.state.calls[-1]
    assert (method, path) == ("POST", "/oauth2/exchange")
    assert form == {
        "grant_type": ["access_token"],
        "service": [fake_acr.login_server],
        "tenant": [TENANT],
        "access_token": ["<redacted>"],
    }


@pytest.mark.parametrize(
    ("make_token", "expected"),
    [
        (
            lambda acr: "not-a-token-the-fake-issued",
            "HTTP 401: UNAUTHORIZED: invalid Entra access token",
        ),
        (
            lambda acr: acr.issue_entra_token(tenant="0" * 8),
            "HTTP 401: UNAUTHORIZED: tenant does not match",
        ),
    ],
    ids=["unknown-token", "wrong-tenant"],
)
def test_exchange_errors_are_one_line_without_the_token(
    fake_acr: FakeAcr, make_token: object, expected: str
) -> None:
    token = make_token(fake_acr)  # type: ignore[operator]
    with pytest.raises(RemoteError) as caught:
        exchange_refresh_token(fake_acr.login_server, token)
    message = str(caught.value)
    assert expected in message and "AcrPush" in message
    assert token not in message and "\n" not in message


def test_api_calls_answer_the_bearer_challenge(fake_acr: FakeAcr) -> None:
    client, refresh = connect(fake_acr.login_server, StaticCredential(fake_acr.issue_entra_token()))
    assert refresh is not None and refresh not in repr(client)
    fake_acr.state.calls.clear()
    assert client.manifest_digest("nothing-here", "v1") is None
    token_calls = [form for method, path, form in fake_acr.state.calls if path == "/oauth2/token"]
    assert token_calls == [
        {
            "grant_type": ["refresh_token"],
            "service": [fake_acr.login_server],
            "scope": ["repository:nothing-here:pull"],
            "refresh_token": ["<redacted>"],
        }
    ]
    assert client.list_tags("nothing-here") == []


def test_without_an_identity_the_registry_refuses_clearly(
    fake_acr: FakeAcr, local_registry: LocalRegistry
) -> None:
    assert needs_login(fake_acr.login_server) is True
    assert needs_login(local_registry.host) is False
    with pytest.raises(ConfigError, match="needs an Entra identity"):
        connect(fake_acr.login_server, None)
    with pytest.raises(ConfigError, match="wants credentials"):
        RegistryClient(fake_acr.login_server).list_tags("x")
    with pytest.raises(RemoteError, match="UNAUTHORIZED: invalid refresh token"):
        RegistryClient(fake_acr.login_server, refresh_token="forged").list_tags("x")


def test_an_unreachable_registry_is_a_clear_error() -> None:
    import socket

    # a port bound and never listening: refused, and no other process can take it meanwhile
    # (a port freed before the request could be another xdist worker's server by then)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        with pytest.raises(RemoteError) as caught:
            needs_login(f"127.0.0.1:{port}")
    assert str(caught.value) == (
        f"registry request failed: cannot reach 127.0.0.1:{port} (Connection refused)"
    )


def test_transient_registry_faults_are_retried_by_the_pipeline(fake_acr: FakeAcr) -> None:
    """azure-core's retry policy (as for every other client here): 503/429 answers with
    Retry-After are retried, for the token exchanges (POST) and the API calls alike."""
    credential = StaticCredential(fake_acr.issue_entra_token())
    fake_acr.state.faults[:] = [503, 429]  # GET /v2/ (needs_login) twice
    client, _ = connect(fake_acr.login_server, credential)
    fake_acr.state.faults[:] = [503]  # the first API call, then its token POST
    assert client.list_tags("nothing-here") == []
    fake_acr.state.faults[:] = [503] * 10  # more than the bounded retries: one clear line
    with pytest.raises(RemoteError, match="answered 503"):
        client.list_tags("nothing-here")
    fake_acr.state.faults.clear()
