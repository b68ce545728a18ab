"""A stand-in for the Azure CLI's ``az account get-access-token``, for offline tests.

azure-identity's ``AzureCliCredential`` runs ``az account get-access-token --output json
--resource R`` and parses ``accessToken`` and ``expires_on`` from its stdout. This script
answers exactly that with a JWT shaped like Entra ID's (audience R, an Entra issuer, a
valid time window); signatures are not checked by Azurite's ``--oauth basic`` nor by our
emulator. It lets the *real* ``DefaultAzureCredential`` chain run with no network.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import time
from pathlib import Path

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(audience: str, *, lifetime: int = 3600) -> tuple[str, int]:
    now = int(time.time())
    expires = now + lifetime
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": expires,
        "oid": "00000000-0000-0000-0000-0000000000aa",
        "tid": TENANT,
        "appid": "superbatch-tests",
    }
    header = {"alg": "RS256", "typ": "JWT", "kid": "test"}
    signature = base64.urlsafe_b64encode(b"not-signed").rstrip(b"=").decode()
    return f"{_b64(header)}.{_b64(claims)}.{signature}", expires


def main(argv: list[str]) -> int:
    if argv[:2] != ["account", "get-access-token"] or "--resource" not in argv:
        print(f"fake az: unsupported command {argv}", file=sys.stderr)
        return 2
    if os.environ.get("FAKE_AZ_LOGGED_OUT"):
        print("ERROR: Please run 'az login' to setup account.", file=sys.stderr)
        return 1
    resource = argv[argv.index("--resource") + 1]
    log = os.environ.get("FAKE_AZ_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as sink:
            sink.write(resource + "\n")
    token, expires = make_token(resource)
    print(
        json.dumps(
            {
                "accessToken": token,
                "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(expires)),
                "expires_on": expires,
                "subscription": "00000000-0000-0000-0000-000000000000",
                "tenant": TENANT,
                "tokenType": "Bearer",
            }
        )
    )
    return 0


def install_fake_az(directory: Path) -> Path:
    """Write an ``az`` executable into ``directory`` that runs this module."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "az"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from tests.azure.fake_az import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
