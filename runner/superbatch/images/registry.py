"""Talking to the stack's registry without admin passwords (ACR's documented OAuth2 flow).

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
import logging
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from superbatch.engine import Engine
from superbatch.errors import ConfigError, RemoteError

log = logging.getLogger(__name__)

ACR_SCOPE = "https://containerregistry.azure.net/.default"
ACR_REFRESH_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_TIMEOUT = 60


class TokenCredential(Protocol):
    """What azure-identity credentials provide (azure.core.credentials.TokenCredential)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


def registry_url(login_server: str) -> str:
    """``https://<login server>``; plain http only for a registry on this machine's loopback."""
    host = login_server.rsplit(":", 1)[0] if not login_server.endswith("]") else login_server
    scheme = "http" if host in _LOOPBACK_HOSTS else "https"
    return f"{scheme}://{login_server}"


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


def _acr_error(body: bytes) -> str:
    """The message of an ACR error body ``{"errors": [{"code": ..., "message": ...}]}``."""
    try:
        errors = json.loads(body)["errors"]
        return "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        return body[:200].decode(errors="replace").strip() or "no details"


def _post_form(url: str, fields: Mapping[str, str], *, what: str) -> dict[str, Any]:
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        hint = ""
        if exc.code in (401, 403):
            hint = " (does your identity have the AcrPush role on this registry? `az login`?)"
        raise RemoteError(
            f"{what} failed: HTTP {exc.code}: {_acr_error(exc.read())}{hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise RemoteError(f"{what} failed: cannot reach {url}: {exc}") from None
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
    login_server: str, aad_access_token: str, *, tenant: str | None = None
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
        f"{registry_url(login_server)}/oauth2/exchange", fields, what="registry token exchange"
    )
    token = payload.get("refresh_token")
    if not isinstance(token, str) or not token:
        raise RemoteError("registry token exchange failed: no refresh_token in the answer")
    return token


def exchange_access_token(challenge: BearerChallenge, refresh_token: str, scope: str) -> str:
    """``POST <realm>`` (``/oauth2/token``): an ACR refresh token -> access token for ``scope``."""
    fields = {
        "grant_type": "refresh_token",
        "service": challenge.service,
        "scope": scope,
        "refresh_token": refresh_token,
    }
    payload = _post_form(challenge.realm, fields, what=f"registry token for {scope}")
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise RemoteError(f"registry token for {scope} failed: no access_token in the answer")
    return token


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class RegistryClient:
    """Registry v2 API calls, answering bearer challenges with an ACR refresh token."""

    def __init__(self, login_server: str, *, refresh_token: str | None = None) -> None:
        self.login_server = login_server
        self.base_url = registry_url(login_server)
        self._refresh_token = refresh_token
        self._access_tokens: dict[str, str] = {}

    def __repr__(self) -> str:  # never show the token
        return f"RegistryClient({self.login_server!r})"

    def _send(self, method: str, path: str, headers: dict[str, str]) -> Response:
        request = urllib.request.Request(self.base_url + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                body = b"" if method == "HEAD" else response.read()
                return Response(response.status, dict(response.headers), body)
        except urllib.error.HTTPError as exc:
            return Response(exc.code, dict(exc.headers), b"" if method == "HEAD" else exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise RemoteError(f"cannot reach registry {self.login_server}: {exc}") from None

    def request(self, method: str, path: str, *, scope: str, accept: str | None = None) -> Response:
        headers = {"Accept": accept} if accept else {}
        if scope in self._access_tokens:
            headers["Authorization"] = f"Bearer {self._access_tokens[scope]}"
        response = self._send(method, path, headers)
        if response.status != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None or self._refresh_token is None:
            raise ConfigError(
                f"registry {self.login_server} wants credentials: run `superbatch image push` "
                "with an identity that has AcrPull/AcrPush (`az login`)"
            )
        if urllib.parse.urlsplit(challenge.realm).netloc != self.login_server:
            # ACR's realm is always https://<login server>/oauth2/token: never send the
            # refresh token anywhere else.
            raise RemoteError(
                f"registry {self.login_server} sent its token service to another host "
                f"({challenge.realm}); not sending credentials there"
            )
        log.debug("registry %s asks for scope %s", self.login_server, challenge.scope or scope)
        token = exchange_access_token(challenge, self._refresh_token, challenge.scope or scope)
        self._access_tokens[scope] = token
        headers["Authorization"] = f"Bearer {token}"
        response = self._send(method, path, headers)
        if response.status == 401:
            raise ConfigError(f"registry {self.login_server} refused the token for {scope}")
        return response

    def _manifest_request(self, method: str, repository: str, reference: str) -> Response | None:
        """``<method> /v2/<repo>/manifests/<ref>``: the response, or None when absent (404)."""
        response = self.request(
            method,
            f"/v2/{repository}/manifests/{reference}",
            scope=f"repository:{repository}:pull",
            accept=MANIFEST_TYPES,
        )
        if response.status == 404:
            return None
        if response.status != 200:
            raise RemoteError(
                f"registry {self.login_server}: {method} manifest answered {response.status}"
            )
        return response

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """``HEAD /v2/<repo>/manifests/<tag|digest>``: the digest, or None when absent."""
        response = self._manifest_request("HEAD", repository, reference)
        if response is None:
            return None
        return response.headers.get("Docker-Content-Digest") or reference

    def manifest(self, repository: str, reference: str) -> dict[str, Any] | None:
        response = self._manifest_request("GET", repository, reference)
        if response is None:
            return None
        payload: dict[str, Any] = json.loads(response.body)
        return payload

    def _paged(self, path: str, key: str, *, scope: str) -> list[str]:
        items: list[str] = []
        next_path: str | None = path
        while next_path:
            response = self.request("GET", next_path, scope=scope)
            if response.status == 404:
                return items
            if response.status != 200:
                raise RemoteError(
                    f"registry {self.login_server}: GET {path} answered {response.status}"
                )
            items.extend(json.loads(response.body).get(key) or [])
            link = re.match(r"\s*<([^>]+)>", response.headers.get("Link", ""))
            next_path = link.group(1) if link else None
            if next_path and next_path.startswith("http"):
                next_path = urllib.parse.urlsplit(next_path)._replace(scheme="", netloc="").geturl()
        return items

    def list_tags(self, repository: str) -> list[str]:
        return self._paged(
            f"/v2/{repository}/tags/list", "tags", scope=f"repository:{repository}:pull"
        )

    def list_repositories(self) -> list[str]:
        return self._paged("/v2/_catalog", "repositories", scope="registry:catalog:*")


def needs_login(login_server: str) -> bool:
    """True when ``GET /v2/`` answers with a bearer challenge (every ACR does)."""
    response = RegistryClient(login_server)._send("GET", "/v2/", {})
    if response.status == 200:
        return False
    if response.status == 401 and parse_challenge(response.headers.get("WWW-Authenticate", "")):
        return True
    raise RemoteError(
        f"{login_server} does not look like a container registry "
        f"(GET /v2/ answered {response.status})"
    )


def connect(
    login_server: str, credential: TokenCredential | None
) -> tuple[RegistryClient, str | None]:
    """A client for ``login_server`` and the ACR refresh token (None when none is needed)."""
    if not needs_login(login_server):
        return RegistryClient(login_server), None
    if credential is None:
        raise ConfigError(f"registry {login_server} needs an Entra identity: run `az login`")
    refresh = exchange_refresh_token(login_server, entra_access_token(credential))
    log.debug("exchanged an Entra token for a refresh token of %s", login_server)
    return RegistryClient(login_server, refresh_token=refresh), refresh


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
        raise RemoteError(
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
