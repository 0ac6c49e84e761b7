"""`manage.py intents`: a tenant's intents, examples and router versions from the command line."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from assistant.models import IntentModelStatus, IntentModelVersion, TenantIntent
from governance.tests.factories import AccessGroupFactory, TenantFactory

pytestmark = pytest.mark.django_db


def _run(*args):
    out = StringIO()
    call_command("intents", *args, stdout=out)
    return out.getvalue()


def test_label_retrain_show_activate_and_roll_back(intent_training):
    tenant = TenantFactory(slug="acme")
    assert "Intent 'canteen' added" in _run(
        "--tenant", "acme", "add-intent", "canteen", "--reply", "See the menu."
    )
    for text in ["lunch menu", "what is for lunch", "lunch at noon?"]:
        assert "labelled 'canteen'" in _run("--tenant", "acme", "add-example", text, "--label", "canteen")

    shown = _run("--tenant", "acme", "retrain", "--wait")
    assert shown.startswith("v1 ready: accuracy 100.0%")
    assert '"oos_recall": 1.0' in shown and '"tenant": 3' in shown
    assert "true \\ predicted" in shown and "canteen" in shown.splitlines()[-6]  # the confusion table
    assert shown.splitlines()[-1] == "Routing now (until you activate v1): Tessera's default router"
    assert _run("--tenant", "acme", "show", "1") == shown

    assert "Version 1 is now" in _run("--tenant", "acme", "activate", "1")
    _run("--tenant", "acme", "add-example", "lunch break length", "--label", "canteen")
    assert (
        _run("--tenant", "acme", "retrain", "--wait")
        .splitlines()[-1]
        .startswith("Routing now (until you activate v2): v1 active: accuracy")
    )
    listed = _run("--tenant", "acme", "list")
    assert '"active_version": 1' in listed and '"canteen": 4' in listed
    assert "v1 active" in listed and "v2 ready" in listed
    assert "default router" in _run("--tenant", "acme", "rollback")
    assert IntentModelVersion.objects.get(tenant=tenant, number=1).status == IntentModelStatus.RETIRED


def test_a_group_intent_and_a_queued_retrain(intent_training, django_capture_on_commit_callbacks):
    tenant = TenantFactory(slug="acme")
    AccessGroupFactory(tenant=tenant, name="HR")
    _run("--tenant", "acme", "add-intent", "hr_docs", "--group", "HR")
    assert TenantIntent.objects.get(tenant=tenant).access_group.name == "HR"
    _run("--tenant", "acme", "add-example", "hi all", "--label", "smalltalk")
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(CommandError, match=r"hr_docs \(0\)"):
            _run("--tenant", "acme", "retrain")
        _run("--tenant", "acme", "add-example", "payroll", "--label", "hr_docs")
        _run("--tenant", "acme", "add-example", "payslip", "--label", "hr_docs")
        _run("--tenant", "acme", "add-example", "salary", "--label", "hr_docs")
        assert "Version 1 queued" in _run("--tenant", "acme", "retrain")
    assert len(callbacks) == 1  # the task is queued once the version is committed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "list"], "No workspace with slug 'nope'"),
        (["--tenant", "acme", "add-example", "hello", "--label", "weather"], "Unknown label 'weather'"),
        (["--tenant", "acme", "add-intent", "hr", "--group", "Missing"], "No access group named 'Missing'"),
        (["--tenant", "acme", "activate", "7"], "No intent model version 7"),
        (["--tenant", "acme", "show", "7"], "No intent model version 7"),
        (["--tenant", "acme", "rollback"], "default router is in use already"),
        (["--tenant", "acme", "remove-example", "999"], "No such example"),
    ],
)
def test_bad_input_is_a_clear_command_error(args, message):
    TenantFactory(slug="acme")
    with pytest.raises(CommandError, match=message):
        _run(*args)
