"""Showing stored text in the reader's language.

Errors and reasons are stored as the Chinese text `qa_i18n.msg` produced (see qa_i18n). When
the active language has a catalog, `localized(text)` finds the template that produced the text
and returns its translation, with each parameter translated the same way (a reason often
carries another message, e.g. "下载远程文件 … 失败 …：连接已断开（…）"). Text no template
produced — a file name, a user's comment, an error from a library — comes back unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.utils import translation
from django.utils.translation import trans_real

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_DEPTH = 5  # messages nest (a reason inside an error inside a job error); deeper stays
_MAX_LENGTH = 4000  # longer text is not matched (stored reasons are short)


class _Template:
    __slots__ = ("fixed", "names", "pattern", "translated")

    def __init__(self, source: str, translated: str) -> None:
        self.fixed = len(_PLACEHOLDER.sub("", source))  # characters outside placeholders
        parts: list[str] = []
        names: list[str] = []
        position = 0
        for found in _PLACEHOLDER.finditer(source):
            parts.append(re.escape(source[position : found.start()]))
            name = found.group(1)
            if name in names:  # the same value twice: a back-reference
                parts.append(f"(?P={name})")
            else:
                names.append(name)
                parts.append(f"(?P<{name}>.*?)")
            position = found.end()
        parts.append(re.escape(source[position:]))
        self.pattern = re.compile("".join(parts), re.DOTALL)
        self.names = tuple(names)
        self.translated = translated


@lru_cache(maxsize=8)
def _templates(language: str) -> tuple[tuple[str, _Template], ...]:
    """(literal prefix, template) for every msgid with placeholders, most specific first."""
    catalog = getattr(trans_real.translation(language), "_catalog", None)
    found: list[tuple[str, _Template]] = []
    if catalog is None:
        return ()
    for msgid, translated in catalog.items():
        if not isinstance(msgid, str) or "{" not in msgid:
            continue
        if not _PLACEHOLDER.search(msgid):
            continue
        if not isinstance(translated, str) or not translated:
            continue
        prefix = msgid[: _PLACEHOLDER.search(msgid).start()]  # type: ignore[union-attr]
        found.append((prefix, _Template(msgid, translated)))
    # Longer fixed text first: "下载远程文件 {path} 失败" before "{action} {where}：{reason}".
    found.sort(key=lambda item: -item[1].fixed)
    return tuple(found)


def localized(text: object) -> str:
    """`text` in the active language when a catalog template produced it; else unchanged."""
    if text is None:
        return ""
    value = str(text)
    if not value or len(value) > _MAX_LENGTH:
        return value
    language = translation.get_language() or ""
    if not language or language.startswith("zh"):
        return value  # stored text is Chinese already
    return _localized(value, language, 0)


@lru_cache(maxsize=4096)
def _localized(value: str, language: str, depth: int) -> str:
    direct = translation.gettext(value)
    if direct != value:
        return direct
    if depth >= _MAX_DEPTH:
        return value
    for prefix, template in _templates(language):
        if prefix and not value.startswith(prefix):
            continue
        match = template.pattern.fullmatch(value)
        if match is None:
            continue
        params = {
            name: _localized(match.group(name), language, depth + 1) for name in template.names
        }
        try:
            return template.translated.format_map(params)
        except (KeyError, IndexError, ValueError):  # a translation naming other placeholders
            continue
    return value
