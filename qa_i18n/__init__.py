"""Translatable text for code that must not import Django: the rule engine, the SFTP client,
audio checks, metadata parsing.

Such code builds user-facing text with `msg("模板 {name}", name=value)`. The result is the
Chinese text itself (a plain str: it is logged, stored and compared exactly as before), and
`python manage.py makemessages` extracts the template because `msg` is one of its keywords
(see qa_platform/management/commands/makemessages.py). Text stored in the database is
translated when it is shown: `qa_platform.i18n.localized(text)` matches it against the active
language's templates and translates the parameters too, so an error stored while the UI was
Chinese reads in English for a user who switched.

Templates use `{name}` placeholders only (no format specs, no positional fields): a value is
formatted with `str()` before it is substituted, and a template reads the same in both
directions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["msg"]


def msg(template: str, /, **params: Any) -> str:
    """`template` with every `{name}` replaced by `str(params[name])`."""
    if not params:
        return template
    return template.format_map({name: str(value) for name, value in params.items()})
