"""The UI in a real browser: Debian's chromium driven by Playwright, against a live server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)




def test_a_supervisor_logs_in_and_sees_flagged_calls(
    page: Any, live_server: Any, org: dict[str, Any], source: Any, copy_call: Any
) -> None:
    from django.core.management import call_command

    from transcription.services.sources import source_pull

    call_command("load_rulepack", "standard", verbosity=0)
    org["agent1"].code = "A1023"
    org["agent1"].save()
    copy_call("call_01_annual_fee_refund")  # clean: scores 100, not flagged
    copy_call("call_08_credit_limit_unverified")  # account details before the ID check
    copy_call("call_09_fee_refund_escalation")  # 李娜: not an agent of the supervisor's team
    source_pull(source_id=source.id)

    page.goto(f"{live_server.url}/calls/review/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "sup1")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_selector("#review-queue")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review_queue.png"), full_page=True)

    rows = page.locator("#review-queue tbody tr")
    assert rows.count() == 1, "only the flagged call of the supervisor's own team"
    row = rows.first.inner_text()
    assert "未先核实身份" in row and "严重项" in row and "随附转写文件" in row

    rows.first.locator("a").click()
    page.wait_for_selector("mark.hit")
    page.screenshot(path=str(ARTIFACTS / "call_detail.png"), full_page=True)
    assert page.locator("mark.hit").count() >= 1

    # The recording plays; clicking a turn seeks to it and highlights it while it plays.
    page.wait_for_function(
        "document.getElementById('call-audio').readyState >= 1")  # metadata loaded
    turn = page.locator(".turn").nth(4)
    start_s = int(turn.get_attribute("data-start-ms")) / 1000
    turn.click()
    page.wait_for_function(
        f"Math.abs(document.getElementById('call-audio').currentTime - {start_s}) < 1.5")
    page.wait_for_selector(".turn.playing")
    page.keyboard.press("Space")  # pause
    page.wait_for_function("document.getElementById('call-audio').paused")

    # The keyboard: j to the first hit, d dismisses it; the page reloads with it dismissed.
    page.keyboard.press("j")
    first = page.locator("li.hit.current")
    hit_id = first.get_attribute("id")
    with page.expect_navigation():
        page.keyboard.press("d")
    assert "review-dismissed" in page.locator(f"#{hit_id}").get_attribute("class")

    # Confirm the other hit with a comment, fill the manual items and finalize.
    other = page.locator("li.hit.review-pending").first
    other.locator("input[name=comment]").fill("确认：先报额度后核身")
    with page.expect_navigation():
        other.locator("button[value=confirmed]").click()
    assert page.locator("li.hit.review-confirmed").count() == 1
    for select in page.locator("#manual-form select").all():
        select.select_option("pass")
    with page.expect_navigation():
        page.click("#manual-form button[name=finalize]")
    assert "定稿" in page.locator("#scorecard").inner_text()
    assert "定稿" in page.locator("#history").inner_text()
    page.screenshot(path=str(ARTIFACTS / "call_reviewed.png"), full_page=True)

    # A link from the keyword audit opens the call at a second: the player is set there.
    page.goto(page.url.split("#")[0].split("?")[0] + "?t=30#t=30")
    page.wait_for_function(
        "Math.abs(document.getElementById('call-audio').currentTime - 30) < 1")
    assert page.locator(".turn.sought").count() == 1
    assert page.console_errors == []
