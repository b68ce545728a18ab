"""`superbatch --help` stays fast: the image commands import no Azure SDK until they run."""

from __future__ import annotations

import subprocess
import sys


def test_image_commands_import_no_azure_sdk() -> None:
    code = (
        "import sys, superbatch.cli.image, superbatch.images;"
        "print(sorted(m for m in sys.modules if m.startswith(('azure', 'pulumi'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
