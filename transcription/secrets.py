"""Secret references: the database stores where a secret is, never the secret."""

from __future__ import annotations

import os
from pathlib import Path

from qa_i18n import msg


class SecretReferenceError(Exception):
    """A reference is malformed or points at nothing; the message never contains the secret."""


def resolve_secret(reference: str) -> str | None:
    """Resolve "env:NAME" or "file:/path" to the secret's text; None for an empty reference."""
    reference = reference.strip()
    if not reference:
        return None
    kind, _, target = reference.partition(":")
    if kind == "env" and target:
        value = os.environ.get(target)
        if value is None:
            raise SecretReferenceError(msg("环境变量 {name} 未设置", name=target))
        return value
    if kind == "file" and target:
        try:
            return Path(target).read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretReferenceError(
                msg("无法读取密钥文件 {path}：{error}", path=target, error=exc.strerror)
            ) from None
    raise SecretReferenceError(
        msg(
            "密钥引用格式应为 env:变量名 或 file:/路径，而不是 {reference}",
            reference=repr(reference[:20]),
        )
    )


def is_valid_reference(reference: str) -> bool:
    kind, _, target = reference.strip().partition(":")
    return not reference.strip() or (kind in ("env", "file") and bool(target))
