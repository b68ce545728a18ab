"""Request authentication as Batch does it: SharedKey signatures and Azure AD bearer tokens.

SharedKey: the string-to-sign is rebuilt from the request exactly as the SDK's
``BatchSharedKeyAuthPolicy`` builds it (the reference's "SharedKey string-to-sign") and the
HMAC compared; a bad or missing signature is 403 ``AuthenticationFailed``. Bearer: any
well-formed ``Bearer`` token is accepted and recorded; when it is a JWT its ``aud`` must be
Batch's resource (``https://batch.core.windows.net/``), else 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping

from tests.emulator.errors import BatchServiceError

BATCH_AUDIENCES = {"https://batch.core.windows.net/", "https://batch.core.windows.net"}
_SIGNED_HEADERS = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
]


def _failed(reason: str) -> BatchServiceError:
    return BatchServiceError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization "
        "header is formed correctly including the signature.",
        AuthenticationErrorDetail=reason,
    )


def string_to_sign(method: str, raw_path: str, headers: Mapping[str, str], account: str) -> str:
    path, _, query = raw_path.partition("?")
    values = {k.lower(): v for k, v in headers.items() if v}
    if method not in ("GET", "HEAD") and "content-length" not in values:
        values["content-length"] = "0"
    text = method + "\n" + "\n".join(values.get(name, "") for name in _SIGNED_HEADERS) + "\n"
    for name, value in sorted((k, v) for k, v in values.items() if "ocp-" in k):
        text += f"{name}:{value}\n"
    text += f"/{account}{path}"
    parsed = urllib.parse.parse_qs(query)
    for name in sorted(parsed):
        if parsed[name][0]:
            text += f"\n{name}:{parsed[name][0]}"
    return text


def sign(key: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def authenticate(
    method: str, raw_path: str, headers: Mapping[str, str], account: str, key: str
) -> str:
    """``"sharedkey"`` or the bearer token; raises Batch's error when the request is refused."""
    authorization = headers.get("authorization") or ""  # header names arrive lower-cased
    scheme, _, credentials = authorization.partition(" ")
    if scheme == "SharedKey":
        name, _, signature = credentials.partition(":")
        if name != account:
            raise _failed(f"The account name {name!r} does not match this account.")
        expected = sign(key, string_to_sign(method, raw_path, headers, account))
        if not hmac.compare_digest(expected, signature):
            raise _failed(
                "The MAC signature found in the HTTP request is not the same as any "
                "computed signature."
            )
        return "sharedkey"
    if scheme == "Bearer" and credentials.strip():
        audience = _jwt_audience(credentials.strip())
        if audience is not None and audience not in BATCH_AUDIENCES:
            raise BatchServiceError(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource {audience!r}.",
            )
        return credentials.strip()
    raise _failed("The Authorization header is missing or not SharedKey/Bearer.")


def _jwt_audience(token: str) -> str | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    audience = claims.get("aud") if isinstance(claims, dict) else None
    return str(audience) if audience is not None else None
