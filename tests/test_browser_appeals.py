"""Appeals in a real browser: the agent appeals a hit, the supervisor accepts, the agent sees it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)




def log_in(page: Any, base: str, username: str, then: str) -> None:
    page.goto(f"{base}{then}")
    if "/accounts/login/" not in page.url:  # still logged in as someone else
        page.click("form[action='/accounts/logout/'] button")
        page.goto(f"{base}{then}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")


def test_an_agent_appeals_a_hit_and_sees_the_supervisor_accept_it(
    page: Any, live_server: Any, org: dict[str, Any]
) -> None:
    from analytics.models import Appeal, CallScore
    from analytics.tests.packs import analyzed_call, install

    install()
    call = analyzed_call("appeal", org["agent1"], [
        ("agent", "您好，请问有什么可以帮您？"),
        ("customer", "我想问一下年费能不能退费，先了解一下政策。"),
        ("agent", "年费在开卡满一年后可以申请减免，我帮您查一下。"),
    ])  # fmt: skip
    analyzed_call("clean", org["agent1"], [("agent", "您好"), ("customer", "谢谢")])
    assert CallScore.objects.get(recording=call).score == 90
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url

    log_in(page, base, "a1", "/my/calls/")
    page.wait_for_selector("#my-calls")
    assert page.locator("#my-calls tbody tr").count() == 2
    page.locator(f"#call-{call.id} a", has_text="申诉").click()
    page.wait_for_selector("#appeal-form")
    page.locator("#appeal-hits input[type=radio]").first.check()
    page.fill("#appeal-comment", "客户只是询问退费政策，<b>并未</b>要求退费")
    page.screenshot(path=str(ARTIFACTS / "appeal_form.png"), full_page=True)
    page.click("#appeal-form button[type=submit]")
    page.wait_for_selector(".messages")
    assert "申诉已提交" in page.inner_text(".messages")
    assert "待处理" in page.inner_text("#call-appeals")
    assert "<b>并未</b>" in page.inner_text("#call-appeals"), "shown as text"

    log_in(page, base, "sup1", "/appeals/")
    row = page.locator("#appeals tbody tr").first
    assert "客户只是询问退费政策" in row.inner_text()
    row.locator("textarea[name=comment]").fill("核实录音，客户未提出退费")
    page.screenshot(path=str(ARTIFACTS / "appeals.png"), full_page=True)
    row.locator("button[value=accept]").click()
    page.wait_for_selector(".messages")
    assert "90 → 100" in page.inner_text(".messages")
    assert Appeal.objects.get().status == "accepted"

    log_in(page, base, "a1", "/my/calls/")
    mine = page.locator(f"#call-{call.id}").inner_text()
    assert "已采纳" in mine and "100" in mine
    page.screenshot(path=str(ARTIFACTS / "my_calls.png"), full_page=True)
    page.goto(f"{base}/appeals/")
    assert "已采纳" in page.inner_text("#appeals")
    # Nothing spills sideways at 1366×768.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert page.console_errors == []
