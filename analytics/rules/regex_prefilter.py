"""Literals a regex cannot match without, so the keyword automaton can skip it on most segments.

"保证.{0,4}收益|稳赚不赔" can only match a segment containing "保证" or "稳赚不赔"; those strings
join the rule set's one automaton, and the regex runs only on segments where one occurred.
That keeps a rule set with many regexes from becoming one pass over the text per regex.

The pattern is read with the standard library's regex parser. Whenever the answer could be
wrong the result is None (no prefilter: the regex runs on every segment): case-insensitive or
VERSION1 patterns, syntax only the `regex` package knows (fuzzy {e<=1}, \\p{Han}, POSIX
classes), and literals that are not plain letters, digits or Han characters.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import regex

# The parser is private to the standard library; without it there is simply no prefilter.
try:
    _parser: Any = importlib.import_module("re._parser")
    _c: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - other Python versions
    _parser = _c = None

_REGEX_ONLY_SYNTAX = re.compile(r"\{[^}]*[eids][^}]*[<=]|\[\[:|\(\?[^)]*V1|\\[pPNXmMKGL]")


def required_literals(pattern: str) -> tuple[str, ...] | None:
    """Strings of which at least one occurs in every match of `pattern`; None when unknown."""
    if _parser is None or _REGEX_ONLY_SYNTAX.search(pattern):
        return None
    compiled = regex.compile(pattern)
    if compiled.flags & (regex.IGNORECASE | regex.VERSION1 | regex.FULLCASE):
        return None
    try:
        parsed = _parser.parse(pattern)
    except (re.error, ValueError, TypeError, OverflowError, RecursionError):
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    found = _sequence(list(parsed))
    if not found or not all(_plain(s) for s in found):
        return None
    return tuple(sorted(found))


def _sequence(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    """Best requirement of a concatenation: the longest literal run or element requirement."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []
    for op, arg in items:
        if op is _c.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            candidates.append(frozenset({"".join(run)}))
            run = []
        element = _element(op, arg)
        if element:
            candidates.append(element)
    if run:
        candidates.append(frozenset({"".join(run)}))
    if not candidates:
        return None
    # Prefer the requirement whose shortest literal is longest: fewer false candidates.
    return max(candidates, key=lambda c: (min(len(s) for s in c), -len(c)))


def _element(op: Any, arg: Any) -> frozenset[str] | None:
    if op is _c.SUBPATTERN:
        _group, add_flags, _del_flags, body = arg
        if add_flags & re.IGNORECASE:
            return None
        return _sequence(list(body))
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, _high, body = arg
        return _sequence(list(body)) if low >= 1 else None
    if op is _c.ATOMIC_GROUP:
        return _sequence(list(arg))
    if op is _c.BRANCH:
        _, branches = arg
        out: set[str] = set()
        for branch in branches:
            required = _sequence(list(branch))
            if not required:
                return None
            out |= required
        return frozenset(out)
    return None


def _plain(literal: str) -> bool:
    return bool(literal) and all(ch.isalnum() for ch in literal)
