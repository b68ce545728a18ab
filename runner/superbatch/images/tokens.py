"""Signing in to the stack's registry without admin passwords (ACR's documented OAuth2 flow).

1. An Entra access token for the registry audience comes from azure-identity (the caller's
   credential: ``az login``, managed identity, workload identity ...).
2. ``POST https://<login-server>/oauth2/exchange`` (form: ``grant_type=access_token``,
   ``service``, ``tenant``, ``access_token``) returns ``{"refresh_token": ...}``.
3. The engine logs in with it: ``<engine> login --username 00000000-0000-0000-0000-000000000000
   --password-stdin`` (on stdin, never on a command line other processes can read); the
   engine keeps it in its own credential store.
4. API calls here (manifest checks, tag lists) answer a 401 ``WWW-Authenticate: Bearer
   realm=...,service=...,scope=...`` challenge with ``POST <realm>`` (form:
   ``grant_type=refresh_token``, ``service``, ``scope``, ``refresh_token``) and retry with the
   access token it returns.

Tokens live only in memory here: never logged, never in an error message, never on disk.
A registry that answers ``GET /v2/`` without a challenge (a local test registry) needs none.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from superbatch.engine import Engine
from superbatch.errors import ConfigError, EngineError, RemoteError
from superbatch.images.http import http_client, registry_url, send

if TYPE_CHECKING:
    from azure.core import PipelineClient

ACR_SCOPE = "https://containerregistry.azure.net/.default"
ACR_REFRESH_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"


class TokenCredential(Protocol):
    """What azure-identity credentials provide (azure.core.credentials.TokenCredential)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class BearerChallenge:
    realm: str
    service: str
    scope: str | None


def parse_challenge(header: str) -> BearerChallenge | None:
    """The ``WWW-Authenticate: Bearer realm="...",service="...",scope="..."`` parameters."""
    scheme, _, params = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    values = dict(re.findall(r'(\w+)="([^"]*)"', params))
    if "realm" not in values:
        return None
    return BearerChallenge(values["realm"], values.get("service", ""), values.get("scope"))


def acr_error(body: bytes) -> str:
    """The message of an ACR error body ``{"errors": [{"code": ..., "message": ...}]}``."""
    try:
        errors = json.loads(body)["errors"]
        return "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        return body[:200].decode(errors="replace").strip() or "no details"


def _post_form(
    http: PipelineClient[Any, Any], url: str, fields: Mapping[str, str], *, what: str
) -> dict[str, Any]:
    response = send(http, "POST", url, form=fields, what=f"{what} failed")
    if response.status >= 400:
        hint = ""
        if response.status in (401, 403):
            hint = " (does your identity have the AcrPush role on this registry? `az login`?)"
        raise RemoteError(
            f"{what} failed: HTTP {response.status}: {acr_error(response.body)}{hint}"
        )
    try:
        payload = json.loads(response.body)
    except ValueError:
        raise RemoteError(f"{what} failed: the answer was not JSON") from None
    if not isinstance(payload, dict):
        raise RemoteError(f"{what} failed: unexpected answer")
    return payload


def tenant_of(access_token: str) -> str | None:
    """The ``tid`` claim of an Entra access token (read, not verified: the registry verifies)."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    tid = claims.get("tid") if isinstance(claims, dict) else None
    return str(tid) if tid else None


def entra_access_token(credential: TokenCredential) -> str:
    """An Entra access token for the registry audience from an azure-identity credential."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        return str(credential.get_token(ACR_SCOPE).token)
    except ClientAuthenticationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot get an Entra token for the registry (run `az login`): {first}"
        ) from None


def exchange_refresh_token(
    login_server: str,
    aad_access_token: str,
    *,
    tenant: str | None = None,
    http: PipelineClient[Any, Any] | None = None,
) -> str:
    """``POST /oauth2/exchange``: an Entra access token for an ACR refresh token."""
    fields = {
        "grant_type": "access_token",
        "service": login_server,
        "access_token": aad_access_token,
    }
    tenant = tenant or tenant_of(aad_access_token)
    if tenant:
        fields["tenant"] = tenant
    payload = _post_form(
        http or http_client(),
        f"{registry_url(login_server)}/oauth2/exchange",
        fields,
        what="registry token exchange",
    )
    token = payload.get("refresh_token")
    if not isinstance(token, str) or not token:
        raise RemoteError("registry token exchange failed: no refresh_token in the answer")
    return token


def exchange_access_token(
    challenge: BearerChallenge,
    refresh_token: str,
    scope: str,
    *,
    http: PipelineClient[Any, Any] | None = None,
) -> str:
    """``POST <realm>`` (``/oauth2/token``): an ACR refresh token -> access token for ``scope``."""
    fields = {
        "grant_type": "refresh_token",
        "service": challenge.service,
        "scope": scope,
        "refresh_token": refresh_token,
    }
    payload = _post_form(
        http or http_client(), challenge.realm, fields, what=f"registry token for {scope}"
    )
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise RemoteError(f"registry token for {scope} failed: no access_token in the answer")
    return token


def engine_login(engine: Engine, login_server: str, refresh_token: str) -> None:
    """Log the engine in with the ACR refresh token on stdin (the engine stores it)."""
    result = subprocess.run(
        engine.command(
            "login", "--username", ACR_REFRESH_TOKEN_USERNAME, "--password-stdin", login_server
        ),
        input=refresh_token.encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise EngineError(
            f"{engine.name} login {login_server} failed: {detail[-1] if detail else 'no details'}"
        )


def az_acr_login(login_server: str) -> None:
    """``az acr login --name <registry>`` (only when the user asks for it)."""
    import shutil

    az = shutil.which("az")
    if az is None:
        raise ConfigError(
            "`az` is not installed: drop --az-login to use the built-in token exchange"
        )
    name = login_server.split(".", 1)[0]
    result = subprocess.run([az, "acr", "login", "--name", name], capture_output=True, check=False)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise RemoteError(
            f"az acr login --name {name} failed: {detail[-1] if detail else 'no details'}"
        )
