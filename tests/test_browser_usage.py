"""The usage dashboard in a real browser: charts drawn, accessible (axe), usable without JavaScript."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from assistant.models import AnswerKind
from assistant.tests.usage_ledger import feedback_row, ledger_row
from conftest import ARTIFACTS
from governance.models import Role
from governance.tests.factories import TenantFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _ledger(tenant):
    now = timezone.now()
    for day in range(12):
        for n in range(day % 4 + 1):
            llm = n % 2 == 0
            ledger_row(
                tenant,
                f"question {day}-{n}",
                at=now - timedelta(days=day, minutes=n),
                llm=llm,
                prompt_tokens=400 * llm,
                completion_tokens=80 * llm,
                cost_usd=Decimal("0.0048") * llm,
                timings_ms={"route": 2.0 + n, "retrieve": 30.0 + day, "total": 60.0 + 100 * llm},
            )
    ledger_row(tenant, "<script>alert(1)</script> Where is the VPN guide?", at=now, kind=AnswerKind.NOT_FOUND)
    ledger_row(
        tenant,
        "<script>alert(1)</script> Where is the VPN guide",
        at=now - timedelta(days=8),
        kind=AnswerKind.NOT_FOUND,
    )
    answer = ledger_row(tenant, "hello", at=now, route="smalltalk", kind=AnswerKind.NO_LLM)
    feedback_row(answer, UserFactory(), "up", "Quick and right", at=now)
    feedback_row(answer, UserFactory(), "down", "Missed the <b>travel</b> policy", at=now)


def _sign_in(page, url, username):
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()


def test_the_dashboard_draws_its_charts_and_passes_axe(page, live_server, member_of, axe):
    tenant = TenantFactory(name="Acme Corp")
    member_of(tenant, role=Role.ADMIN, username="ada")
    _ledger(tenant)
    _sign_in(page, f"{live_server.url}/accounts/login/?next=/usage/", "ada")
    page.wait_for_url(f"{live_server.url}/usage/")

    charts = page.locator("svg.chart[role=img]")
    assert charts.count() == 5
    assert page.locator("svg.chart").first.bounding_box()["width"] > 600  # readable at 1200px
    assert page.get_by_role("img", name="Questions per day").count() == 1
    bars = page.locator("#h-questions ~ figure svg rect:has(title)")
    assert bars.count() == 30
    gaps = page.get_by_test_id("usage-gaps")
    assert "<script>alert(1)</script> Where is the VPN guide?" in gaps.inner_text()  # shown as text
    assert gaps.locator("tbody tr").first.locator("td").nth(1).inner_text() == "2"
    assert page.evaluate("document.querySelectorAll('main script').length") == 0
    comments = page.get_by_test_id("usage-feedback-comments").inner_text()
    assert "Missed the <b>travel</b> policy" in comments and "Quick and right" in comments
    page.get_by_text("The figures as a table").first.click()
    assert page.get_by_role("table", name="Questions per day").is_visible()
    axe(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "usage-dashboard.png"), full_page=True)

    page.select_option("#id_days", "7")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/usage/?days=7")
    assert page.locator("#h-questions ~ figure svg rect:has(title)").count() == 7


def test_the_range_works_without_javascript(browser, live_server, member_of):
    tenant = TenantFactory()
    member_of(tenant, role=Role.ADMIN, username="nojs")
    _ledger(tenant)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1200, "height": 800})
    try:
        page = context.new_page()
        _sign_in(page, f"{live_server.url}/accounts/login/?next=/usage/", "nojs")
        page.wait_for_url(f"{live_server.url}/usage/")
        page.select_option("#id_days", "90")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**/usage/?days=90")
        assert page.locator("#h-questions ~ figure svg rect:has(title)").count() == 90
        assert page.locator('dd[data-figure="answers"]').inner_text() == "33"
    finally:
        context.close()
