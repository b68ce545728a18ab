"""``{placeholder}`` substitution in task commands, quoted for where each placeholder sits.

Only ``{identifier}`` is a placeholder, so shell and awk braces pass through untouched:
``${HOME}`` (a ``{`` right after ``$``), ``awk '{print $1}'`` and ``{a,b}`` stay as written.
``{{name}}`` is the escape for a literal ``{name}``.

A command is a ``/bin/sh -c`` script, so each placeholder is quoted for its place in it,
and the shell always sees exactly the value:

- outside quotes (also inside ``$(...)``): one shell word, :func:`shlex.quote`
  (``--name={label}-x`` -> ``--name='a b'-x``, which the shell reads as ``--name=a b-x``);
- inside ``"..."``: ``\\``, ``$``, `````` and ``"`` are backslash-escaped
  (``"run {label}"`` -> ``"run a b"``);
- inside ``'...'``: each ``'`` becomes ``'\\''`` (close, escaped quote, reopen).

Where a value cannot be placed exactly without parsing more shell than this module does
(inside backquotes, ``${...}``, ``$'...'``, a here-document), the spec is refused up front
with one line that names the task's environment variable (``"$SUPERBATCH_INPUT"``, a CSV
column's own name) as the form that always works.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from superbatch.errors import SpecError

_TOKEN_RE = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Quoting contexts of the shell lexer below.
_PLAIN, _DOUBLE, _SINGLE = "plain", "double", "single"
_REFUSED = {
    "backquote": "inside backquotes (write $(...) instead)",
    "parameter": "inside ${...}",
    "ansi": "inside $'...'",
    "heredoc": "after a here-document (<<)",
}


def _double_quoted(value: str) -> str:
    return re.sub(r'([\\$`"])', r"\\\1", value)


def _single_quoted(value: str) -> str:
    return value.replace("'", "'\\''")


_QUOTERS: dict[str, Callable[[str], str]] = {
    _PLAIN: shlex.quote,
    _DOUBLE: _double_quoted,
    _SINGLE: _single_quoted,
}


_SCOPES = {"$(": "subst", "${": "parameter", "$'": "ansi"}  # what each two-character opener starts


def _contexts(template: str) -> list[str]:
    """The quoting context at every character of ``template`` (a small sh lexer)."""
    contexts: list[str] = []
    stack: list[str] = [_PLAIN]  # "subst" entries are $( ... ) scopes: plain inside
    depth: list[int] = []  # open parentheses in each $( ... ) scope
    i = 0
    n = len(template)
    heredoc = False

    def mark(count: int, context: str) -> None:
        contexts.extend([context] * count)

    def open_scope(pair: str, context: str, allowed: tuple[str, ...]) -> bool:
        """Enter the ``$(``, ``${`` or ``$'`` scope that ``pair`` opens, if ``allowed``."""
        scope = _SCOPES.get(pair)
        if scope not in allowed:
            return False
        mark(2, context)
        stack.append(scope)
        if scope == "subst":
            depth.append(0)
        return True

    while i < n:
        top = stack[-1]
        char = template[i]
        pair = template[i : i + 2]
        here = "heredoc" if heredoc else ("plain" if top == "subst" else top)
        if top in (_PLAIN, "subst"):
            if char == "#" and (i == 0 or template[i - 1] in " \t\n;&|()<>"):
                end = template.find("\n", i)
                end = n if end < 0 else end
                mark(end - i, here)  # a comment: its quotes quote nothing
                i = end
                continue
            if char == "\\":
                mark(min(2, n - i), here)
                i += 2
                continue
            if pair == "<<" and "<" not in template[i - 1 : i] + template[i + 2 : i + 3]:
                heredoc = True  # conservative: every later placeholder is refused
            if open_scope(pair, here, ("subst", "parameter", "ansi")):
                i += 2
                continue
            if char == "'":
                stack.append(_SINGLE)
            elif char == '"':
                stack.append(_DOUBLE)
            elif char == "`":
                stack.append("backquote")
            elif top == "subst" and char == "(":
                depth[-1] += 1
            elif top == "subst" and char == ")":
                if depth[-1] == 0:
                    stack.pop()
                    depth.pop()
                else:
                    depth[-1] -= 1
            mark(1, here)
            i += 1
        elif top == _SINGLE:
            mark(1, "heredoc" if heredoc else (_PLAIN if char == "'" else _SINGLE))
            if char == "'":
                stack.pop()
            i += 1
        elif top == _DOUBLE:
            context = "heredoc" if heredoc else _DOUBLE
            if char == "\\" and i + 1 < n and template[i + 1] in '$`"\\\n':
                mark(2, context)
                i += 2
                continue
            if open_scope(pair, context, ("subst", "parameter")):  # no $'...' in "..."
                i += 2
                continue
            if char == '"':
                stack.pop()
            elif char == "`":
                stack.append("backquote")
            mark(1, context)
            i += 1
        else:  # backquote, parameter, ansi: placeholders inside are refused
            closing = {"backquote": "`", "parameter": "}", "ansi": "'"}[top]
            if char == "\\":
                mark(min(2, n - i), top)
                i += 2
                continue
            mark(1, top)
            if char == closing:
                stack.pop()
            i += 1
    return contexts


@dataclass(frozen=True)
class _Slot:
    name: str
    quote: Callable[[str], str]


@functools.lru_cache(maxsize=64)
def _compile(template: str) -> tuple[tuple[str | _Slot, ...], tuple[tuple[str, str], ...]]:
    """Literal text and placeholder slots in order, plus (name, refused context) pairs."""
    contexts = _contexts(template)
    parts: list[str | _Slot] = []
    refused: list[tuple[str, str]] = []
    last = 0
    for match in _TOKEN_RE.finditer(template):
        parts.append(template[last : match.start()])
        last = match.end()
        if match.group(1):
            parts.append("{" + match.group(1) + "}")
            continue
        context = contexts[match.start()] if match.start() < len(contexts) else _PLAIN
        name = match.group(2)
        if context in _REFUSED:
            refused.append((name, _REFUSED[context]))
            parts.append(_Slot(name, shlex.quote))
        else:
            parts.append(_Slot(name, _QUOTERS[context]))
    parts.append(template[last:])
    return tuple(parts), tuple(refused)


def placeholders_in(template: str) -> list[str]:
    """Names used as placeholders in ``template``, in order of first use."""
    seen: dict[str, None] = {}
    for match in _TOKEN_RE.finditer(template):
        if match.group(2):
            seen.setdefault(match.group(2), None)
    return list(seen)


def check_placeholders(
    template: str,
    known: Iterable[str],
    *,
    where: str,
    env_names: Mapping[str, str] | None = None,
) -> None:
    """Unknown names, and placeholders where no quoting is exact, raise :class:`SpecError`.

    ``env_names``: placeholder -> the task's environment variable holding the same value,
    named in the message as what to write instead.
    """
    known_set = set(known)
    unknown = [name for name in placeholders_in(template) if name not in known_set]
    if unknown:
        listed = ", ".join(f"{{{k}}}" for k in sorted(known_set)) or "none"
        raise SpecError(
            f"{where}: unknown placeholder {{{unknown[0]}}} (known here: {listed}; "
            "write {{" + unknown[0] + "}} for a literal)"
        )
    _, refused = _compile(template)
    if refused:
        name, context = refused[0]
        variable = (env_names or {}).get(name)
        instead = f'use "${variable}" there' if variable else "move it out of there"
        raise SpecError(
            f"{where}: placeholder {{{name}}} is {context}, where its value cannot be "
            f"quoted exactly: {instead}"
        )


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill placeholders, each quoted for its place (check them first: unknown names raise)."""
    parts, _ = _compile(template)
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if part.name not in values:
            raise SpecError(f"unknown placeholder {{{part.name}}}")
        out.append(part.quote(values[part.name]))
    return "".join(out)
