"""HTTP for the registry clients: azure-core's pipeline, like every other client here.

The same transport as the Batch and storage clients (``REQUESTS_CA_BUNDLE`` /
``SSL_CERT_FILE`` for a private CA, ``*_proxy`` variables), retries with backoff that honour
``Retry-After`` (bounded: a few attempts, each with a timeout), and redirects that drop the
``Authorization`` header when they leave the registry's host (ACR answers blob reads with a
redirect to storage). azure-core is imported inside the functions: ``--local`` never loads it.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from superbatch.errors import RemoteError

if TYPE_CHECKING:
    from azure.core import PipelineClient

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# Each attempt: 10 s to connect, 60 s between bytes; at most 3 retries with backoff (0.8 s,
# 1.6 s, 3.2 s, or what Retry-After says): an unreachable registry is reported in seconds.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
RETRIES = 3


def registry_url(login_server: str) -> str:
    """``https://<login server>``; plain http only for a registry on this machine's loopback."""
    host = login_server.rsplit(":", 1)[0] if not login_server.endswith("]") else login_server
    scheme = "http" if host in _LOOPBACK_HOSTS else "https"
    return f"{scheme}://{login_server}"


def http_client(*policies: Any) -> PipelineClient[Any, Any]:
    """An azure-core pipeline with the transport every client here uses, bounded retries
    (also for the token POSTs: an exchange can be repeated safely) and safe redirects.
    ``policies`` run after the retry policy, so each attempt gets them (e.g. ARM's bearer
    token policy)."""
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import (
        HeadersPolicy,
        RedirectPolicy,
        RetryPolicy,
        UserAgentPolicy,
    )

    from superbatch.azure.credentials import _transport_kwargs

    retry = RetryPolicy(
        retry_total=RETRIES,
        retry_backoff_factor=0.8,
        retry_backoff_max=10,
        retry_on_methods=frozenset({"HEAD", "GET", "PUT", "DELETE", "POST"}),
    )
    kwargs = _transport_kwargs()
    return PipelineClient(
        "",
        policies=[
            HeadersPolicy(),
            UserAgentPolicy(sdk_moniker="superbatch"),
            RedirectPolicy(),
            retry,
            *policies,
        ],
        transport=kwargs["transport"],
    )


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _reason(error: Exception) -> str:
    """The cause in a few words ("Connection refused", "timed out"), not urllib3's paragraph."""
    text = str(error)
    found = re.search(r"\[Errno -?\d+\] ([^\"')]+)", text)
    if found:
        return found.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:200]


def send(
    http: PipelineClient[Any, Any],
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    json_body: Any = None,
    what: str,
) -> Response:
    """One request through ``http``. When the host cannot be reached (after the retries):
    ``RemoteError("<what>: cannot reach <host> (<reason>)")``, one line."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from azure.core.rest import HttpRequest

    data = dict(form) if form is not None else None
    request = HttpRequest(method, url, headers=dict(headers or {}), data=data, json=json_body)
    try:
        response = http.send_request(
            request, stream=False, connection_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT
        )
    except (ServiceRequestError, ServiceResponseError) as exc:
        host = urllib.parse.urlsplit(url).netloc
        raise RemoteError(f"{what}: cannot reach {host} ({_reason(exc)})") from None
    body = b"" if method == "HEAD" else response.read()
    return Response(response.status_code, response.headers, body)
