"""Output-file patterns follow Azure Batch's rules (see superbatch.patterns)."""

from __future__ import annotations

from pathlib import Path

import pytest

from superbatch.patterns import match_outputs, pattern_matches


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "sub/a.txt", False),
        ("**/*.txt", "a.txt", True),
        ("**/*.txt", "x/y/a.txt", True),
        ("out/**", "out/a/b/c.json", True),
        ("out/**", "other/a.json", False),
        ("?.csv", "a.csv", True),
        ("?.csv", "ab.csv", False),
        ("[ab].csv", "b.csv", True),
        ("[ab].csv", "c.csv", False),
        ("*", ".hidden", False),
        (".*", ".hidden", True),
        ("**", ".cache/x", False),
        ("**/x", ".cache/x", False),
        (".cache/*", ".cache/x", True),
        ("out/*.json", "out/.a.json", False),
        ("total.json", "total.json", True),
    ],
)
def test_pattern_rules(pattern: str, path: str, expected: bool) -> None:
    assert pattern_matches(pattern, path) is expected


def test_match_outputs_collects_regular_files_only(tmp_path: Path) -> None:
    (tmp_path / "out" / "deep").mkdir(parents=True)
    (tmp_path / "out" / "a.json").write_text("a")
    (tmp_path / "out" / "deep" / "b.json").write_text("b")
    (tmp_path / "out" / ".secret").write_text("s")
    (tmp_path / "out" / "link.json").symlink_to(tmp_path / "out" / "a.json")
    (tmp_path / "_logs").mkdir()
    (tmp_path / "_logs" / "x.json").write_text("reserved")
    (tmp_path / "top.txt").write_text("t")
    assert match_outputs(tmp_path, ["out/**", "**/*.json", "top.txt", "missing.txt"]) == [
        "out/a.json",
        "out/deep/b.json",
        "top.txt",
    ]
