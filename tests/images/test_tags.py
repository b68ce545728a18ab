"""The default tag is derived from the build context as the engine sees it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from superbatch.errors import ConfigError
from superbatch.images.tags import content_tag, context_files, is_ignored, parse_dockerignore
from tests.support.engines import EngineUnderTest


def make_context(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /ctx\n")
    (root / "app").mkdir()
    (root / "app" / "main.py").write_text("print('hi')\n")
    (root / "app" / "__pycache__").mkdir()
    (root / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0junk")
    (root / "notes.md").write_text("notes\n")
    (root / "README.md").write_text("readme\n")
    (root / ".dockerignore").write_text("# caches\n**/__pycache__\n*.md\n!README.md\n")
    return root


def test_same_content_same_tag_anywhere(tmp_path: Path) -> None:
    first = make_context(tmp_path / "a")
    second = tmp_path / "b" / "elsewhere"
    shutil.copytree(first, second)  # new inodes, new mtimes, another path
    (second / "app" / "main.py").touch()
    assert content_tag(first) == content_tag(second)
    assert len(content_tag(first)) == 12


@pytest.mark.parametrize(
    "change",
    [
        lambda c: (c / "app" / "main.py").write_text("print('bye')\n"),
        lambda c: (c / "app" / "extra.py").write_text(""),
        lambda c: (c / "app" / "main.py").chmod(0o755),
        lambda c: (c / "app" / "main.py").rename(c / "app" / "renamed.py"),
        lambda c: (c / "Dockerfile").write_text("FROM scratch\nCOPY . /other\n"),
        lambda c: (c / "README.md").write_text("re-included by !README.md, so it counts\n"),
        lambda c: (c / "app" / "link").symlink_to("main.py"),
        lambda c: (c / "empty-dir").mkdir(),
    ],
    ids=["content", "new-file", "exec-bit", "rename", "dockerfile", "reincluded", "symlink", "dir"],
)
def test_any_change_gives_a_new_tag(tmp_path: Path, change: object) -> None:
    context = make_context(tmp_path / "ctx")
    before = content_tag(context)
    change(context)  # type: ignore[operator]
    assert content_tag(context) != before


def test_ignored_files_do_not_change_the_tag(tmp_path: Path) -> None:
    context = make_context(tmp_path / "ctx")
    before = content_tag(context)
    (context / "notes.md").write_text("edited notes, ignored by *.md\n")
    (context / "app" / "__pycache__" / "other.pyc").write_bytes(b"more junk")
    (context / "app" / "__pycache__" / "deep").mkdir()
    assert content_tag(context) == before


def test_build_args_and_platform_count(tmp_path: Path) -> None:
    context = make_context(tmp_path / "ctx")
    plain = content_tag(context)
    one = content_tag(context, build_args={"BASE_IMAGE": "python:3.12-slim"})
    other = content_tag(context, build_args={"BASE_IMAGE": "python:3.13-slim"})
    arm = content_tag(
        context, build_args={"BASE_IMAGE": "python:3.13-slim"}, platform="linux/arm64"
    )
    assert len({plain, one, other, arm}) == 4


def test_missing_dockerfile_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no Dockerfile"):
        content_tag(tmp_path)


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [  # Docker's documented .dockerignore examples, plus the last-match-wins rule
        ("*/temp*", "somedir/temporary.txt", True),
        ("*/temp*", "temp", False),
        ("*/*/temp*", "somedir/subdir/temporary.txt", True),
        ("temp?", "tempa", True),
        ("temp?", "tempab", False),
        ("**/*.go", "a/b/c.go", True),
        ("**/*.go", "c.go", True),
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "CHANGES.md", True),
        ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
        ("build", "build/out/x.o", True),  # a parent directory matches
        ("/build/", "build/x", True),
        ("[a-c]at", "bat", True),
        ("[!a-c]at", "bat", False),
    ],
)
def test_dockerignore_rules(patterns: str, path: str, ignored: bool) -> None:
    assert is_ignored(path, parse_dockerignore(patterns)) is ignored


@pytest.mark.container
def test_context_files_match_what_the_engine_copies(
    tmp_path: Path, engine: EngineUnderTest, base_image: str
) -> None:
    """Cross-check the ignore rules against each engine itself: COPY . and list what arrived."""
    context = make_context(tmp_path / "ctx")
    (context / "Dockerfile").write_text(f"FROM {base_image}\nCOPY . /ctx\n")
    (context / "data").mkdir()
    (context / "data" / "keep.txt").write_text("k")
    (context / "data" / "skip.tmp").write_text("s")
    with (context / ".dockerignore").open("a") as handle:
        handle.write("data/*.tmp\n")
    tag = f"localhost/superbatch-test/ignorecheck:{content_tag(context)}"
    engine("build", "-q", "-t", tag, str(context))
    listed = engine("run", "--rm", tag, "find", "/ctx").stdout.split()
    in_image = {p.removeprefix("/ctx/") for p in listed if p != "/ctx"}
    assert in_image == {rel for rel, _ in context_files(context)}
    assert "notes.md" not in in_image and "README.md" in in_image and "data/keep.txt" in in_image
