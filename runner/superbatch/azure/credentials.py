"""Credentials and clients: Entra ID only (``DefaultAzureCredential``), never a key or SAS.

``DefaultAzureCredential`` covers ``az login`` on a laptop, managed identity on a VM and
workload identity in CI. ``AZURE_TOKEN_CREDENTIALS`` (azure-identity's own switch, e.g.
``AzureCliCredential`` or ``dev``/``prod``) narrows the chain when a user needs to.

Tests reach the Batch emulator and Azurite through this very code: both serve https with a
throwaway CA (``REQUESTS_CA_BUNDLE``), and the token comes from the real chain.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from superbatch.azure.retry import batch_retry_policy, storage_retry_policy, transport_timeouts
from superbatch.contract import StackOutputs
from superbatch.errors import ConfigError

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.core.credentials import AccessToken, TokenCredential
    from azure.storage.blob import ContainerClient

_LOGGER = logging.getLogger(__name__)

BATCH_SCOPE = "https://batch.core.windows.net//.default"  # the double slash is Batch's own
STORAGE_SCOPE = "https://storage.azure.com/.default"
# Parallel uploads/adds need as many pooled connections as worker threads.
CONNECTION_POOL_SIZE = 64


class CachedCredential:
    """Reuses each scope's token until 5 minutes before it expires.

    ``az login`` tokens cost a subprocess (about a second) per ``get_token``; the check
    before staging, the Batch client, the blob clients and the uploader would each pay it.
    Claims challenges (conditional access) always go to the wrapped credential.
    """

    _MARGIN_SECONDS = 300

    def __init__(self, inner: TokenCredential) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, ...], AccessToken] = {}

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        if claims or tenant_id or enable_cae or kwargs:
            return self._inner.get_token(
                *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
            )
        with self._lock:
            token = self._tokens.get(scopes)
            if token is None or token.expires_on - time.time() < self._MARGIN_SECONDS:
                token = self._tokens[scopes] = self._inner.get_token(*scopes)
            return token


def default_credential() -> TokenCredential:
    """The azure-identity chain; a bad ``AZURE_TOKEN_CREDENTIALS`` value is a config error."""
    from azure.identity import DefaultAzureCredential

    try:
        return CachedCredential(DefaultAzureCredential())
    except ValueError as exc:  # invalid AZURE_TOKEN_CREDENTIALS and the like
        raise ConfigError(f"Azure credentials are misconfigured: {exc}") from None


def check_credential(credential: TokenCredential, scope: str = BATCH_SCOPE) -> None:
    """Fail early, before anything is uploaded, when no identity is available."""
    from superbatch.azure.errors import translate_azure_error

    try:
        credential.get_token(scope)
    except Exception as exc:
        raise translate_azure_error(exc, action="get an Entra ID token") from exc


def _transport_kwargs() -> dict[str, Any]:
    """A requests transport with a connection pool sized for our worker threads.

    ``connection_verify`` follows ``REQUESTS_CA_BUNDLE`` explicitly (requests ignores the
    variable when a session's verify is set by the caller), so a private CA works.
    """
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        # Without proxies to honour, skip requests' per-request scan of the environment:
        # at thousands of small uploads it costs more CPU than the upload itself.
        session.trust_env = False
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=CONNECTION_POOL_SIZE, pool_maxsize=CONNECTION_POOL_SIZE
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    transport_options: dict[str, Any] = {}
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    if ca_bundle:
        transport_options["connection_verify"] = ca_bundle
    transport = RequestsTransport(
        session=session, session_owner=True, **transport_options, **transport_timeouts()
    )
    return {"transport": transport, **transport_options}


def batch_client(outputs: StackOutputs, credential: TokenCredential) -> BatchClient:
    """A Batch client whose pipeline is the one retry policy for Batch (azure/retry.py)."""
    from azure.batch import BatchClient

    return BatchClient(
        outputs.batch_account_endpoint,
        credential,
        retry_policy=batch_retry_policy(),
        **_transport_kwargs(),
    )


def container_client(
    container_url: str, credential: TokenCredential, *, api_version: str | None = None
) -> ContainerClient:
    """A container client from the container URL the stack exported (no SAS in it)."""
    from azure.storage.blob import ContainerClient

    kwargs = _transport_kwargs()
    kwargs["retry_policy"] = storage_retry_policy()  # the one retry policy for storage
    if api_version:
        kwargs["api_version"] = api_version
    return ContainerClient.from_container_url(container_url, credential=credential, **kwargs)
