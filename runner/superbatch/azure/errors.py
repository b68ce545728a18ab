"""Azure SDK errors -> one line a user can act on.

Translated at the library edge: everything the Azure backend raises is a
:class:`~superbatch.errors.SuperBatchError`. The original exception stays chained for
``--debug``. Messages never include a token or key (the SDKs do not put them in errors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from superbatch.errors import (
    ConfigError,
    JobNotFoundError,
    RemoteError,
    SuperBatchError,
)

T = TypeVar("T")

# Batch / Storage error codes -> what the user should do about them.
ROLE_HINTS = {
    "batch": "'Azure Batch Job Submitter' on the Batch account",
    "storage": "'Storage Blob Data Contributor' on the stack's inputs and outputs containers",
}
_QUOTA_CODES = {
    "ActiveJobAndScheduleQuotaReached",
    "AccountCoreQuotaReached",
    "AccountLowPriorityCoreQuotaReached",
    "AccountSpotCoreQuotaReached",
    "PoolQuotaReached",
    "TooManyRequests",
}


class ThrottledError(RemoteError):
    """Azure kept throttling (or failing) past our retries and deadline."""


def error_code(exc: BaseException) -> str | None:
    """The service's error code (``JobNotFound``, ``AuthorizationFailure``...) if it sent one."""
    code = getattr(exc, "error_code", None)  # azure-storage-blob
    if code:
        return str(code)
    error = getattr(exc, "error", None)  # azure-batch / azure-core OData errors
    code = getattr(error, "code", None)
    return str(code) if code else None


def translate_azure_error(
    exc: BaseException,
    *,
    action: str,
    service: str = "batch",
    scope: str | None = None,
) -> SuperBatchError:
    """Map ``exc`` raised while trying to ``action`` to the error a user can act on."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, SuperBatchError):
        return exc
    where = f" on {scope}" if scope else ""
    name = type(exc).__name__
    if name == "CredentialUnavailableError" or (
        isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) is None
    ):
        return ConfigError(no_identity_message(action))
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return RemoteError(unreachable_message(exc, action=action, service=service))
    if not isinstance(exc, HttpResponseError):
        return RemoteError(f"failed to {action}: {name}: {_first_line(str(exc))}")

    status = exc.status_code
    code = error_code(exc) or ""
    message = _service_message(exc)
    if status == 401 or code in {"AuthenticationFailed", "InvalidAuthenticationToken"}:
        return ConfigError(
            f"Azure refused our credentials to {action} ({code or status}): run `az login` "
            "again or check the identity's tenant"
        )
    if (
        status == 403
        or code.startswith("Authorization")
        or code == "InsufficientAccountPermissions"
    ):
        role = ROLE_HINTS.get(service, "the needed data-plane role")
        return ConfigError(
            f"not allowed to {action} ({code or 403}){where}: your identity needs {role}"
            " (assign it with `az role assignment create`; role changes take a few minutes)"
        )
    if code in {"JobNotFound", "TaskNotFound"}:
        return JobNotFoundError(f"cannot {action}: {message or code}")
    if code == "PoolNotFound":
        return ConfigError(
            f"the stack's Batch pool does not exist ({message or code}): run `pulumi up`"
        )
    if code == "ContainerNotFound":
        return ConfigError(
            f"storage container not found while trying to {action}: run `pulumi up` for this stack"
        )
    if code in _QUOTA_CODES or "quota" in code.lower() or "quota" in message.lower():
        return RemoteError(
            f"Azure quota reached while trying to {action} ({code}): {message} "
            "(request more quota in the portal: Batch account > Quotas, or delete old jobs "
            "with `superbatch clean`)"
        )
    if status in {429, 503} or code in {"ServerBusy", "OperationTimedOut"}:
        return ThrottledError(
            f"Azure kept throttling while trying to {action} ({status} {code}) past our "
            "retries: re-run the same command later, it resumes where it stopped"
        )
    return RemoteError(f"failed to {action}: {status} {code}: {message}".rstrip(": "))


_UNREACHABLE_REASONS = (  # what urllib3/requests/ssl say -> what a user reads
    (("connection refused",), "connection refused"),
    (("timed out", "timeout"), "no answer in time"),
    (("name or service not known", "nodename nor servname", "getaddrinfo", "name resolution"),
     "host name not found"),
    (("reset by peer", "connection aborted", "remotedisconnected", "connection broken",
      "protocolerror"), "connection reset"),
    (("certificate", "ssl", "tls"), "TLS handshake failed"),
)  # fmt: skip


def unreachable_message(
    exc: BaseException, *, action: str, service: str, endpoint: str | None = None
) -> str:
    """``cannot reach Azure Batch (host:port) to find job X: connection refused; ...``.

    One readable line instead of urllib3's ``HTTPSConnectionPool(...): Max retries exceeded
    ... (Caused by NewConnectionError(...))``; the retries have already run (azure/retry.py).
    """
    import re

    from superbatch.azure.retry import total_seconds

    text = " ".join(str(e) for e in _chain(exc)).lower()
    reason = next(
        (said for needles, said in _UNREACHABLE_REASONS if any(n in text for n in needles)),
        "no connection",
    )
    found = re.search(r"host='([^']+)', port=(\d+)", " ".join(str(e) for e in _chain(exc)))
    if found:
        endpoint = f"{found.group(1)}:{found.group(2)}"
    where = f" ({endpoint})" if endpoint else ""  # urllib3 names it; http.client does not
    name = {"batch": "Azure Batch", "storage": "Azure Storage"}.get(service, "Azure")
    return (
        f"cannot reach {name}{where} to {action}: {reason}, retried for up to "
        f"{total_seconds():.0f} s; check the network (or `pulumi up`) and run the same "
        "command again"
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        inner = getattr(current, "inner_exception", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    return seen


def no_identity_message(action: str) -> str:
    """One line for "no credential in the chain worked", fitting what this machine has."""
    import shutil

    if shutil.which("az") is None:
        fix = "install the Azure CLI (`az` is not on PATH) and run `az login`"
    else:
        fix = "run `az login` (the Azure CLI is not signed in)"
    where = "or run where a managed or workload identity is set up"
    return f"no Azure identity to {action}: {fix}, {where}"


def image_not_found_message(image: str, registry: str, detail: str) -> str:
    return (
        f"image {image} was not found in registry {registry}: push it with "
        f"`superbatch image push` (detail: {_first_line(detail)})"
    )


def _service_message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    return _first_line(str(message))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def is_transient(exc: BaseException) -> bool:
    """A failure worth another try: connection trouble, throttling, server errors."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        return status in {408, 429} or status >= 500
    return False


def call_with_retries(
    operation: Callable[[], T], *, action: str, service: str = "batch", repeat: bool = False
) -> T:
    """Run ``operation``, translating a failure into the error a user can act on.

    The client's pipeline has already retried the request by the one policy of its client
    (:mod:`superbatch.azure.retry`): nothing is retried again here. ``repeat=True`` is for
    the POSTs and PATCHes azure-core does not retry on a lost connection or a 429 without
    ``Retry-After`` (create job, update job, terminate): they are repeated within the same
    bounds, and only for calls whose repeat is recognised (``JobExists``, 409).
    """
    from superbatch.azure.retry import Deadline, retry_after

    deadline = Deadline() if repeat else None
    while True:
        try:
            return operation()
        except Exception as exc:
            response = getattr(exc, "response", None)
            asked = retry_after(getattr(response, "headers", None))
            if deadline is None or not is_transient(exc) or not deadline.retry(asked):
                raise translate_azure_error(exc, action=action, service=service) from exc
