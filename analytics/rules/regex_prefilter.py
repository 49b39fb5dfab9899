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


# Escapes that match characters by themselves, whatever surrounds the match: classes, character
# codes, backreferences (to text inside the match). Anything else (\b \B \A \Z \z \G \K \m \M,
# \N{…}, \X, \L<…>, …) makes the pattern not context-free.
_CONSUMING_ESCAPES = frozenset("dDwWsStnrfvaxuU0123456789")
_QUANTIFIER_BODY = re.compile(r"\d*(?:,\d*)?")


def context_free(pattern: str) -> bool:
    """True when a match of `pattern` depends only on the characters it consumes.

    Then a match inside one segment is also a match at the same place in the segments joined
    with a separator, and a search over the joined text that finds nothing before position p
    proves no segment has a match starting before p. That holds without lookarounds, anchors,
    word boundaries, inline flags, atomic groups, possessive quantifiers and fuzzy constraints,
    which is what this (conservative) scan checks; anything it does not recognise is "no".
    """
    if regex.compile(pattern).flags & (regex.VERSION1 | regex.REVERSE | regex.POSIX):
        return False
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i = _skip_escape(pattern, i)
            if i < 0:
                return False
        elif ch == "[":
            i = _skip_class(pattern, i)
            if i < 0:
                return False
        elif ch == "(":
            if pattern.startswith("(?", i):
                if pattern.startswith("(?:", i):
                    i += 3
                elif pattern.startswith("(?P<", i):
                    i = pattern.find(">", i) + 1
                    if i <= 0:
                        return False
                else:  # lookaround, inline flags, atomic group, comment, conditional, …
                    return False
            else:
                i += 1
        elif ch in "^$":
            return False
        elif ch == "{":
            close = pattern.find("}", i)
            if close < 0 or not _QUANTIFIER_BODY.fullmatch(pattern, i + 1, close):
                return False  # fuzzy constraint or a brace regex might read differently
            i = close + 1
            if pattern.startswith("+", i):
                return False  # possessive
        elif ch in "*+?":
            i += 1
            if pattern.startswith("+", i):
                return False  # possessive: *+ ++ ?+
        else:
            i += 1
    return True


def _skip_escape(pattern: str, i: int) -> int:
    """Index after the escape at `i`, or -1 when it is not a consuming escape."""
    if i + 1 >= len(pattern):
        return -1
    letter = pattern[i + 1]
    if letter in "pP":  # \p{Han}, \pL
        if pattern.startswith("{", i + 2):
            close = pattern.find("}", i + 2)
            return close + 1 if close > 0 else -1
        return i + 3 if i + 2 < len(pattern) else -1
    if letter.isalnum() and letter not in _CONSUMING_ESCAPES:
        return -1
    return i + 2


def _skip_class(pattern: str, i: int) -> int:
    """Index after the character class starting at `i`, or -1 if it is unusual."""
    j = i + 1
    if pattern.startswith("^", j):
        j += 1
    if pattern.startswith("]", j):
        j += 1  # a leading "]" is a literal
    while j < len(pattern):
        ch = pattern[j]
        if ch == "\\":
            j = _skip_escape(pattern, j)
            if j < 0:
                return -1
        elif ch == "[":
            return -1  # POSIX classes or nested sets
        elif ch == "]":
            return j + 1
        else:
            j += 1
    return -1
