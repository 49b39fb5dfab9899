"""Call facts from a file name (a source's regex) and from a call-detail sidecar (JSON or CSV).

Pure functions over text: the pull service decides what to read, this decides what it means.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from django.utils import timezone

from qa_i18n import msg
from transcription.asr.base import CallMetadata

_FIELD_NAMES = tuple(f.name for f in fields(CallMetadata))
_TIME_FORMATS = (
    "%Y%m%d%H%M%S",
    "%Y%m%d_%H%M%S",
    "%Y%m%d-%H%M%S",
    "%Y-%m-%d_%H-%M-%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)
_DIRECTIONS = {
    "inbound": "inbound",
    "in": "inbound",
    "i": "inbound",
    "呼入": "inbound",
    "incoming": "inbound",
    "outbound": "outbound",
    "out": "outbound",
    "o": "outbound",
    "呼出": "outbound",
    "outgoing": "outbound",
}


class MetadataError(Exception):
    """A call-detail sidecar that cannot be read; the recording is kept with a warning."""


def from_filename(pattern: str, name: str) -> CallMetadata:
    """Named groups of the source's pattern matched against the file's base name."""
    if not pattern:
        return CallMetadata()
    match = re.search(pattern, name)
    if match is None:
        return CallMetadata()
    return _metadata({k: v for k, v in match.groupdict().items() if v})


def from_sidecar(raw: bytes, *, kind: str, mapping: dict[str, str]) -> CallMetadata:
    """Call facts from a JSON object or a one-row CSV, through the source's field mapping."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # call platforms on Windows write GBK
        except UnicodeDecodeError:
            raise MetadataError(msg("话单编码无法识别（应为 UTF-8 或 GBK）")) from None
    record = _json_record(text) if kind == "json" else _csv_record(text)
    values = {}
    for field in _FIELD_NAMES:
        value = record.get(mapping.get(field, field))
        if value not in (None, ""):
            values[field] = str(value)
    return _metadata(values)


def merge(base: CallMetadata, override: CallMetadata) -> CallMetadata:
    """`override`'s non-empty fields win."""
    changes = {f: getattr(override, f) for f in _FIELD_NAMES if getattr(override, f)}
    return replace(base, **changes)


def parse_started_at(value: str) -> datetime | None:
    """A call start time in the forms call platforms write; naive times are local time."""
    value = value.strip()
    if not value:
        return None
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for form in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(value, form)
                break
            except ValueError:
                continue
    if parsed is None and value.isdigit() and len(value) == 10:
        parsed = datetime.fromtimestamp(int(value), tz=timezone.get_current_timezone())
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _metadata(values: dict[str, str]) -> CallMetadata:
    clean = {k: v.strip() for k, v in values.items() if k in _FIELD_NAMES}
    if "direction" in clean:
        clean["direction"] = _DIRECTIONS.get(clean["direction"].lower(), clean["direction"])
    if "started_at" in clean:
        started = parse_started_at(clean["started_at"])
        clean["started_at"] = started.isoformat() if started else ""
    return CallMetadata(**clean)


def _json_record(text: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(
            msg("话单不是有效的 JSON：第 {line} 行，{error}", line=exc.lineno, error=exc.msg)
        ) from None
    if not isinstance(record, dict):
        raise MetadataError(msg("话单 JSON 的顶层应为对象"))
    return record


def _csv_record(text: str) -> dict[str, Any]:
    try:
        rows = list(csv.DictReader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise MetadataError(msg("话单不是有效的 CSV：{error}", error=exc)) from None
    if len(rows) != 1:
        raise MetadataError(msg("话单 CSV 应有表头和一行数据，实际 {rows} 行", rows=len(rows)))
    return {k.strip(): v for k, v in rows[0].items() if k}
