"""A stand-in for ``pulumi stack output --json --stack NAME [--cwd DIR]`` (no Pulumi CLI here).

It answers like the real CLI does for the cases the runner meets: the project is found by
looking for ``Pulumi.yaml`` from the working folder (or ``--cwd DIR``) upwards; a fully
qualified ``org/project/stack`` needs no project folder (pulumi/pulumi#7000); otherwise
``error: no Pulumi.yaml project file found``; an unknown stack is
``error: no stack named 'NAME' found``. Stacks and their outputs come from the JSON file in
``FAKE_PULUMI_STACKS``; each call's argv and folder are appended to ``FAKE_PULUMI_LOG``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path


def _project(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / "Pulumi.yaml").is_file() or (folder / "Pulumi.yml").is_file():
            return folder
    return None


def main(argv: list[str]) -> int:
    args = list(argv)
    folder = Path.cwd()
    if "--cwd" in args:
        at = args.index("--cwd")
        folder = Path(args[at + 1])
        del args[at : at + 2]
    with open(os.environ["FAKE_PULUMI_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv, "folder": str(folder)}) + "\n")
    if args[:2] != ["stack", "output"] or "--stack" not in args:
        print(f"fake pulumi: unsupported command {argv}", file=sys.stderr)
        return 2
    stack = args[args.index("--stack") + 1]
    if stack.count("/") != 2 and _project(folder) is None:
        print(
            f"error: no Pulumi.yaml project file found (searching upwards from {folder}). If "
            "you have not created a project yet, use `pulumi new` to do so: no project file "
            "found",
            file=sys.stderr,
        )
        return 255
    stacks = json.loads(Path(os.environ["FAKE_PULUMI_STACKS"]).read_text())
    if stack not in stacks:
        print(f"error: no stack named '{stack}' found", file=sys.stderr)
        return 255
    print(json.dumps(stacks[stack], indent=4))
    return 0


def install_fake_pulumi(directory: Path) -> Path:
    """Write a ``pulumi`` executable into ``directory`` that runs this module."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from tests.azure.fake_pulumi import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
