"""The English UI in a real browser: an admin switches language, and pages that show stored
Chinese text (a rejected recording's reason, the rule pages, a scored call) read in English."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_an_admin_reads_the_pipeline_rules_and_a_call_in_english(
    page: Any, live_server: Any, org: dict[str, Any], source: Any, copy_call: Any,
    remote_dir: Path,
) -> None:  # fmt: skip
    from django.core.management import call_command

    from transcription.models import Recording
    from transcription.services.sources import source_pull

    call_command("load_rulepack", "standard", verbosity=0)
    copy_call("call_08_credit_limit_unverified")
    (remote_dir / "empty.wav").write_bytes(b"")
    (remote_dir / "notes.wav").write_text("这不是录音", encoding="utf-8")
    source_pull(source_id=source.id)
    rejected = Recording.objects.exclude(error="")
    assert {r.error for r in rejected} >= {"文件为空，不是有效的音频"}  # stored in Chinese

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", org["admin"].username)
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_selector("nav")
    with page.expect_navigation():
        page.select_option("form.language select", "en")  # submits itself
    assert page.locator("html").get_attribute("lang") == "en"

    page.goto(f"{live_server.url}/pipeline/")
    failed = page.locator("#failed-recordings").inner_text()
    assert "The file is empty, not valid audio" in failed
    assert "Unrecognised audio file" in failed
    # The source's name (呼叫中心录音服务器) is the admin's own words; the rest is English.
    assert not CJK.search(failed.replace(source.name, "")), failed
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pipeline_en.png"), full_page=True)

    page.goto(f"{live_server.url}/rules/")
    page.screenshot(path=str(ARTIFACTS / "rules_en.png"), full_page=True)
    headings = page.locator("h1, th").all_inner_texts()  # h2 names the pack (its own title)
    assert headings and not any(CJK.search(text) for text in headings), headings
    assert "Loaded rule pack standard v1" in page.inner_text("main")  # a stored description
    assert "(Administrator)" in page.inner_text("header")

    call = Recording.objects.get(error="")
    page.goto(f"{live_server.url}/calls/{call.id}/")
    page.wait_for_selector("mark.hit")
    page.screenshot(path=str(ARTIFACTS / "call_detail_en.png"), full_page=True)
    scorecard = page.locator("#scorecard").inner_text()
    assert "Critical" in scorecard or "critical" in scorecard, scorecard
