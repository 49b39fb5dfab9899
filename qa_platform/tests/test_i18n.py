"""Stored Chinese text read in English: qa_platform.i18n.localized and the |localized filter."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.template import Context, Template
from django.utils import translation
from django.utils.translation import trans_real

from qa_i18n import msg
from qa_platform.i18n import localized

ROOT = Path(__file__).resolve().parents[2]


def test_chinese_readers_get_the_stored_text_unchanged() -> None:
    text = msg("连接已断开（{reason}）", reason="Broken pipe")
    with translation.override("zh-hans"):
        assert localized(text) == "连接已断开（Broken pipe）"


def test_a_message_inside_a_message_is_translated_too() -> None:
    reason = msg("连接已断开（{reason}）", reason="Broken pipe")
    text = msg("下载远程文件 {path} 失败 {where}：{reason}", path="a b/录音 1.wav",
               where="10.0.0.5:22", reason=reason)  # fmt: skip
    assert text == "下载远程文件 a b/录音 1.wav 失败 10.0.0.5:22：连接已断开（Broken pipe）"
    with translation.override("en"):
        assert localized(text) == (
            "Downloading remote file a b/录音 1.wav from 10.0.0.5:22 failed: "
            "Connection lost (Broken pipe)"
        )


def test_text_no_template_produced_comes_back_unchanged() -> None:
    with translation.override("en"):
        for text in ("", "客户说：我要投诉", "ffmpeg: Invalid data found", "连接已断开"):
            assert localized(text) == text
        assert localized(None) == ""


def test_the_filter_escapes_what_it_translates() -> None:
    text = msg("连接已断开（{reason}）", reason="<script>alert(1)</script>")
    rendered = Template("{% load qa_format %}{{ value|localized }}").render(
        Context({"value": text})
    )
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered


def test_every_template_in_the_code_has_an_english_translation() -> None:
    """makemessages extracts msg(...) templates; none may be missing from the English catalog."""
    if subprocess.run(["which", "xgettext"], capture_output=True).returncode != 0:
        pytest.skip("xgettext (Debian package gettext) is not installed")
    sources = sorted(
        str(path) for package in ("analytics", "transcription", "qa_platform", "qa_i18n")
        for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts
        and "tests" not in path.parts
    )  # fmt: skip
    pot = subprocess.run(
        ["xgettext", "--language=Python", "--keyword=msg", "--from-code=UTF-8", "-o", "-",
         *sources], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    missing = []
    catalog: Any = getattr(trans_real.translation("en"), "_catalog", {})  # what gettext reads
    for block in pot.split("\n\n")[1:]:
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        if not lines or not lines[0].startswith("msgid ") or any(
            line.startswith("msgid_plural") for line in lines
        ):
            continue
        msgid_lines = []
        for line in lines:
            if line.startswith("msgstr"):
                break
            msgid_lines.append(line.removeprefix("msgid ").strip())
        msgid = "".join(
            part[1:-1].encode().decode("unicode_escape").encode("latin-1").decode()
            for part in msgid_lines
        )
        if msgid and not catalog.get(msgid):
            missing.append(msgid)
    assert not missing, f"{len(missing)} messages without English, e.g. {missing[:5]}"


def test_the_english_catalog_has_no_fuzzy_or_empty_entries() -> None:
    """compilemessages skips fuzzy entries: the UI would show their Chinese."""
    text = (ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # the first is the header
    fuzzy = [e for e in entries if "#, fuzzy" in e or e.startswith("#, fuzzy")]
    empty = [e for e in entries if e.rstrip().endswith('msgstr ""') and "msgid_plural" not in e]
    assert not fuzzy, fuzzy[:3]
    assert not empty, empty[:3]


def test_the_committed_mo_is_compiled_from_the_po(tmp_path: Path) -> None:
    if subprocess.run(["which", "msgfmt"], capture_output=True).returncode != 0:
        pytest.skip("msgfmt (Debian package gettext) is not installed")
    po = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(po)], check=True)
    assert fresh.read_bytes() == po.with_suffix(".mo").read_bytes(), "run compilemessages"
