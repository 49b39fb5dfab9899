"""Reading stored text as an English or a Chinese reader would (for the i18n tests)."""

from __future__ import annotations

from django.utils import translation

from qa_platform.i18n import localized


def english(text: str) -> str:
    with translation.override("en"):
        return localized(text)


def chinese(text: str) -> str:
    with translation.override("zh-hans"):
        return localized(text)
