"""The keyword audit page in a real browser: an auditor searches, sees highlighted turns, and
downloads the CSV (Debian's chromium driven by Playwright, against a live server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)




def test_an_auditor_searches_sees_highlights_and_downloads_the_csv(
    page: Any, live_server: Any, org: dict[str, Any], tmp_path: Path
) -> None:
    from analytics.tests.packs import analyzed_call, install
    from qa_platform.models import AuditEvent

    install()
    for n in range(3):
        analyzed_call(f"refund-{n}", org["agent1" if n % 2 else "agent2"], [
            ("agent", "您好，请问有什么可以帮您"),
            ("customer", f"上个月扣的年费我要退费，第{n + 1}次打电话了"),
            ("agent", "好的，我帮您申请年费退费，请稍等"),
        ])  # fmt: skip
    analyzed_call("xss", org["agent1"], [("customer", "<img src=x onerror=alert(1)>退费")])

    page.goto(f"{live_server.url}/search/")
    page.fill("input[name=username]", "audit")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_selector("#search-form")
    assert page.locator("nav a", has_text="关键词稽核").count() == 1

    page.fill("input[name=q]", "退")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-notices")
    assert "请输入至少 2 个字" in page.inner_text("#search-notices")

    page.fill("input[name=q]", "退费")
    page.select_option("select[name=role]", "customer")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results")
    rows = page.locator("#search-results tbody tr")
    assert rows.count() == 4
    assert page.locator("#search-results mark").first.inner_text() == "退费"
    assert "<img src=x onerror=alert(1)>" in page.inner_text("#search-results")
    assert page.locator("#search-results img").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "keyword_search.png"), full_page=True)
    link = rows.first.locator("a").first.get_attribute("href")
    assert "?t=" in link and "#t=" in link

    with page.expect_download() as download_info:
        page.click("#export-csv")
    target = tmp_path / "export.csv"
    download_info.value.save_as(target)
    text = target.read_bytes().decode("utf-8-sig")
    assert text.startswith("通话编号,通话时间") and text.count("退费") >= 4
    assert AuditEvent.objects.filter(action="search.export", username="audit").count() == 1

    page.fill("input[name=name]", "退费投诉")
    with page.expect_navigation():
        page.click("form.save button[type=submit]")
    assert page.locator("#saved-searches a", has_text="退费投诉").count() == 1
    assert page.console_errors == []
