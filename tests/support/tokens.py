"""A token credential for loopback emulators: well-formed, unsigned JWTs.

Azurite in ``--oauth basic`` mode checks a bearer token's shape, issuer, audience and
lifetime but not its signature; the Batch emulator records tokens and checks the audience.
:class:`FakeTokenCredential` issues such tokens with the audience taken from the requested
scope (``https://storage.azure.com/.default`` -> ``https://storage.azure.com``), so the Azure
SDKs' real bearer-token policies run unchanged. The tokens grant nothing anywhere else.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from azure.core.credentials import AccessToken

TENANT = "00000000-0000-0000-0000-000000000000"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def fake_jwt(audience: str, *, lifetime: int = 3600, object_id: str = "test-identity") -> str:
    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime,
        "oid": object_id,
        "tid": TENANT,
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.c2ln"


class FakeTokenCredential:
    """``azure.core.credentials.TokenCredential`` issuing :func:`fake_jwt` tokens."""

    def __init__(self, *, object_id: str = "test-identity") -> None:
        self.object_id = object_id
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.extend(scopes)
        # "https://storage.azure.com/.default" -> "https://storage.azure.com"; Batch's scope
        # has a double slash, so its audience keeps one: "https://batch.core.windows.net/".
        audience = scopes[0].removesuffix(".default").removesuffix("/") if scopes else ""
        token = fake_jwt(audience, object_id=self.object_id)
        return AccessToken(token, int(time.time()) + 3600)

    def close(self) -> None:
        return None

    def __enter__(self) -> FakeTokenCredential:
        return self

    def __exit__(self, *_: object) -> None:
        return None
