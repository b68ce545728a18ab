"""``{placeholder}`` substitution in task commands, shell-quoted.

Only ``{identifier}`` is a placeholder, so shell and awk braces pass through untouched:
``${HOME}`` (a ``{`` right after ``$``), ``awk '{print $1}'`` and ``{a,b}`` stay as written.
``{{name}}`` is the escape for a literal ``{name}``. Values are inserted with
:func:`shlex.quote`, so a file name with spaces or quotes is one shell word: write
``{input}``, not ``"{input}"``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping

from superbatch.errors import SpecError

_TOKEN_RE = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A placeholder wrapped in its own quotes would keep them as part of the value: "'a b'".
_QUOTED_RE = re.compile(r"""(["'])\{([A-Za-z_][A-Za-z0-9_]*)\}\1""")


def placeholders_in(template: str) -> list[str]:
    """Names used as placeholders in ``template``, in order of first use."""
    seen: dict[str, None] = {}
    for match in _TOKEN_RE.finditer(template):
        if match.group(2):
            seen.setdefault(match.group(2), None)
    return list(seen)


def check_placeholders(template: str, known: Iterable[str], *, where: str) -> None:
    """Unknown names and quoted placeholders (``"{input}"``) raise :class:`SpecError`."""
    quoted = _QUOTED_RE.search(template)
    if quoted:
        raise SpecError(
            f"{where}: placeholder {quoted.group(0)} is in quotes: write {{{quoted.group(2)}}} "
            "without quotes (values are shell-quoted already)"
        )
    known_set = set(known)
    unknown = [name for name in placeholders_in(template) if name not in known_set]
    if unknown:
        listed = ", ".join(f"{{{k}}}" for k in sorted(known_set)) or "none"
        raise SpecError(
            f"{where}: unknown placeholder {{{unknown[0]}}} (known here: {listed}; "
            "write {{" + unknown[0] + "}} for a literal)"
        )


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill placeholders with shell-quoted values (check them first: unknown names raise)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "{" + match.group(1) + "}"
        name = match.group(2)
        if name not in values:
            raise SpecError(f"unknown placeholder {{{name}}}")
        return shlex.quote(values[name])

    return _TOKEN_RE.sub(replace, template)
