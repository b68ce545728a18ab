"""The registry v2 API of the stack's registry (manifests, blobs, tags), answering its
bearer challenges with the ACR refresh token from :mod:`superbatch.images.tokens`.

Tokens live only in memory here: never logged, never in an error message, never on disk.
A registry that answers ``GET /v2/`` without a challenge (a local test registry) needs none.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from superbatch.errors import ConfigError, RemoteError
from superbatch.images.http import Response, http_client, registry_url, send
from superbatch.images.tokens import (
    TokenCredential,
    entra_access_token,
    exchange_access_token,
    exchange_refresh_token,
    parse_challenge,
)

if TYPE_CHECKING:
    from azure.core import PipelineClient

log = logging.getLogger(__name__)

INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


class RemoteImage:
    """What a tag names in a registry: its manifest digest and its image configs (one per
    platform for an index), whose labels are read only when asked for."""

    def __init__(
        self, client: RegistryClient, repository: str, digest: str, config_digests: list[str]
    ) -> None:
        self.digest = digest
        self.config_digests = tuple(config_digests)
        self._client = client
        self._repository = repository

    def labels(self, key: str) -> set[str | None]:
        """The values of label ``key`` across the image's configs (None where it is absent)."""
        values: set[str | None] = set()
        for config in self.config_digests:
            document = json.loads(self._client.blob(self._repository, config))
            labels = (document.get("config") or {}).get("Labels") or {}
            value = labels.get(key)
            values.add(value if isinstance(value, str) else None)
        return values


class RegistryClient:
    """Registry v2 API calls, answering bearer challenges with an ACR refresh token."""

    def __init__(self, login_server: str, *, refresh_token: str | None = None) -> None:
        self.login_server = login_server
        self.base_url = registry_url(login_server)
        self._refresh_token = refresh_token
        self._access_tokens: dict[str, str] = {}
        self._http: PipelineClient[Any, Any] | None = None

    def __repr__(self) -> str:  # never show the token
        return f"RegistryClient({self.login_server!r})"

    @property
    def http(self) -> PipelineClient[Any, Any]:
        if self._http is None:
            self._http = http_client()
        return self._http

    def _send(self, method: str, path: str, headers: dict[str, str]) -> Response:
        return send(
            self.http,
            method,
            self.base_url + path,
            headers=headers,
            what="registry request failed",
        )

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
        token = exchange_access_token(
            challenge, self._refresh_token, challenge.scope or scope, http=self.http
        )
        self._access_tokens[scope] = token
        headers["Authorization"] = f"Bearer {token}"
        response = self._send(method, path, headers)
        if response.status == 401:
            raise ConfigError(f"registry {self.login_server} refused the token for {scope}")
        return response

    def _get(
        self, method: str, path: str, repository: str, *, accept: str | None = None
    ) -> Response | None:
        """``<method> /v2/<repository>/...``: the response, or None when absent (404)."""
        response = self.request(method, path, scope=f"repository:{repository}:pull", accept=accept)
        if response.status == 404:
            return None
        if response.status != 200:
            raise RemoteError(
                f"registry {self.login_server}: {method} {path} answered {response.status}"
            )
        return response

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """``HEAD /v2/<repo>/manifests/<tag|digest>``: the digest, or None when absent."""
        path = f"/v2/{repository}/manifests/{reference}"
        response = self._get("HEAD", path, repository, accept=MANIFEST_TYPES)
        if response is None:
            return None
        return response.headers.get("Docker-Content-Digest") or reference

    def manifest(self, repository: str, reference: str) -> tuple[str, dict[str, Any]] | None:
        """``GET /v2/<repo>/manifests/<ref>``: (digest, manifest), or None when absent."""
        path = f"/v2/{repository}/manifests/{reference}"
        response = self._get("GET", path, repository, accept=MANIFEST_TYPES)
        if response is None:
            return None
        digest = response.headers.get("Docker-Content-Digest") or reference
        payload: dict[str, Any] = json.loads(response.body)
        return digest, payload

    def blob(self, repository: str, digest: str) -> bytes:
        """``GET /v2/<repo>/blobs/<digest>`` (following the registry's redirect to storage)."""
        response = self._get("GET", f"/v2/{repository}/blobs/{digest}", repository)
        if response is None:
            raise RemoteError(
                f"registry {self.login_server}: blob {digest} of {repository} is gone"
            )
        return response.body

    def image(self, repository: str, reference: str) -> RemoteImage | None:
        """What ``reference`` names in ``repository`` (an index: every platform's config)."""
        found = self.manifest(repository, reference)
        if found is None:
            return None
        digest, manifest = found
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            configs = []
            for entry in manifest.get("manifests") or []:
                child = self.manifest(repository, str(entry.get("digest")))
                if child is not None:
                    configs.append(str((child[1].get("config") or {}).get("digest")))
        else:
            configs = [str((manifest.get("config") or {}).get("digest"))]
        return RemoteImage(self, repository, digest, configs)

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
    client = RegistryClient(login_server)
    refresh = exchange_refresh_token(login_server, entra_access_token(credential), http=client.http)
    log.debug("exchanged an Entra token for a refresh token of %s", login_server)
    client._refresh_token = refresh
    return client, refresh
