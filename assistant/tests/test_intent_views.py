"""The intent training pages through HTTP: intents and examples, a retrain run by the real task (fast
path: the tiny training set and the topic embedder), the evaluation, activation and rollback."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistant import tasks
from assistant.models import IntentExample, IntentModelStatus, IntentModelVersion, TenantIntent
from governance.models import AuditEvent, Role
from governance.tests.factories import AccessGroupFactory, TenantFactory

pytestmark = pytest.mark.django_db

LUNCH = ["what is for lunch", "lunch menu today", "is lunch served at noon", "vegan lunch options"]


@pytest.fixture
def admin_client(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN, username="root"))
    client.tenant = tenant
    return client


@pytest.fixture
def run_tasks_here(monkeypatch):
    """The retrain's Celery task runs in this process (eagerly) once its transaction commits."""
    monkeypatch.setattr(
        tasks.train_intent_model_task,
        "apply_async",
        lambda args=(), **options: tasks.train_intent_model_task.apply(
            args=args, task_id=options.get("task_id")
        ),
    )


def _post(client, name, data=None, args=()):
    return client.post(reverse(f"assistant_admin:{name}", args=args), data or {})


def _canteen(client):
    assert _post(client, "intent_add", {"intent-name": "canteen", "intent-kind": "reply",
                                        "intent-reply": "See the menu."}).status_code == 302  # fmt: skip
    for text in LUNCH:
        assert (
            _post(client, "example_add", {"example-text": text, "example-label": "canteen"}).status_code
            == 302
        )


def test_add_intents_and_examples_then_list_and_remove(admin_client):
    tenant = admin_client.tenant
    group = AccessGroupFactory(tenant=tenant, name="HR")
    _canteen(admin_client)
    response = _post(
        admin_client,
        "intent_add",
        {"intent-name": "hr_docs", "intent-kind": "group", "intent-access_group": group.pk},
    )
    assert response.status_code == 302
    assert TenantIntent.objects.get(tenant=tenant, name="hr_docs").access_group == group
    page = admin_client.get(reverse("assistant_admin:intents")).content.decode()
    assert 'data-testid="intent-canteen"' in page and "searches “HR”" in page
    assert "vegan lunch options" in page and '<option value="canteen">' in page
    filtered = admin_client.get(reverse("assistant_admin:intents") + "?label=smalltalk").content.decode()
    assert "vegan lunch options" not in filtered
    example = IntentExample.objects.get(tenant=tenant, text="vegan lunch options")
    assert _post(admin_client, "example_remove", args=[example.pk]).status_code == 302
    assert not IntentExample.objects.filter(pk=example.pk).exists()
    actions = set(AuditEvent.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {"intent.create", "intent_example.create", "intent_example.delete"} <= actions


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (
            {"intent-name": "Bad Name!", "intent-kind": "reply", "intent-reply": "x"},
            400,
            "lower-case letters",
        ),
        ({"intent-name": "question", "intent-kind": "reply", "intent-reply": "x"}, 400, "built-in route"),
        ({"intent-name": "canteen", "intent-kind": "reply", "intent-reply": ""}, 400, "Write the reply"),
        ({"intent-name": "hr", "intent-kind": "group"}, 400, "Choose the group"),
    ],
)
def test_bad_intents_are_refused_at_their_field(admin_client, data, status, message):
    response = _post(admin_client, "intent_add", data)
    assert response.status_code == status and message in response.content.decode()
    assert not TenantIntent.objects.exists()


def test_bad_examples_and_duplicates_are_refused(admin_client):
    _canteen(admin_client)
    unknown = _post(admin_client, "example_add", {"example-text": "hi", "example-label": "weather"})
    assert unknown.status_code == 400 and "Select a valid choice" in unknown.content.decode()
    duplicate = _post(
        admin_client, "example_add", {"example-text": "LUNCH menu today", "example-label": "search"}
    )
    html = duplicate.content.decode()
    assert (
        duplicate.status_code == 409 and "already an example" in html and 'id="id_example-text_error"' in html
    )
    assert IntentExample.objects.filter(tenant=admin_client.tenant).count() == len(LUNCH)


def test_a_group_of_another_tenant_cannot_be_targeted(admin_client):
    theirs = AccessGroupFactory(tenant=TenantFactory())
    response = _post(
        admin_client,
        "intent_add",
        {"intent-name": "spy", "intent-kind": "group", "intent-access_group": theirs.pk},
    )
    assert response.status_code == 400 and not TenantIntent.objects.exists()


def test_retrain_polls_then_shows_the_evaluation_activate_and_roll_back(
    admin_client, intent_training, run_tasks_here, django_capture_on_commit_callbacks
):
    tenant = admin_client.tenant
    _canteen(admin_client)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = _post(admin_client, "retrain")
    assert response.status_code == 302 and response["Location"].endswith("/settings/intents/versions/1/")
    version = IntentModelVersion.objects.get(tenant=tenant, number=1)
    assert version.status == IntentModelStatus.TRAINING and len(queued) == 1
    page = admin_client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in page and "/settings/intents/versions/1/panel/" in page
    assert _post(admin_client, "retrain").status_code == 409  # one training at a time

    queued[0]()  # the transaction commits: the task trains the version
    panel = admin_client.get(
        reverse("assistant_admin:intent_version_panel", args=[1]), HTTP_HX_REQUEST="true"
    )
    html = panel.content.decode()
    assert panel.status_code == 200 and 'data-status="ready"' in html and "every 2s" not in html
    assert "<html" not in html  # the panel alone
    version.refresh_from_db()
    assert f"{version.accuracy:.3f}" in html and "Out-of-scope recall" in html
    assert 'data-testid="confusion"' in html and '<th scope="row">canteen</th>' in html
    assert "Activate version 1" in html

    assert _post(admin_client, "intent_version_activate", args=[1]).status_code == 302
    version.refresh_from_db()
    assert version.status == IntentModelStatus.ACTIVE
    overview = admin_client.get(reverse("assistant_admin:intents")).content.decode()
    assert "version 1" in overview.split('data-testid="active-version"')[1][:300]

    assert _post(admin_client, "rollback").status_code == 302
    version.refresh_from_db()
    assert version.status == IntentModelStatus.RETIRED
    again = _post(admin_client, "rollback")
    assert again.status_code == 400 and "default router is in use already" in again.content.decode()
    actions = list(AuditEvent.objects.filter(tenant=tenant, action__startswith="intent_model").values_list(
        "action", flat=True).order_by("id"))  # fmt: skip
    assert actions == [
        "intent_model.retrain",
        "intent_model.trained",
        "intent_model.activate",
        "intent_model.rollback",
    ]


def test_retrain_with_too_few_examples_says_why(admin_client):
    _post(admin_client, "intent_add", {"intent-name": "canteen", "intent-kind": "reply", "intent-reply": "x"})
    _post(admin_client, "example_add", {"example-text": "lunch", "example-label": "canteen"})
    response = _post(admin_client, "retrain")
    assert response.status_code == 400 and "at least 3 examples: canteen (1)" in response.content.decode()
    assert not IntentModelVersion.objects.exists()


def test_a_failed_version_cannot_be_activated(admin_client):
    IntentModelVersion.objects.create(tenant=admin_client.tenant, number=1, status=IntentModelStatus.FAILED,
                                      error="Training failed: no embedder")  # fmt: skip
    assert (
        "no embedder"
        in admin_client.get(reverse("assistant_admin:intent_version", args=[1])).content.decode()
    )
    response = _post(admin_client, "intent_version_activate", args=[1])
    assert response.status_code == 400 and "only a trained version" in response.content.decode()


def test_another_tenants_objects_are_404(admin_client):
    other = TenantFactory()
    IntentModelVersion.objects.create(tenant=other, number=1, status=IntentModelStatus.READY)
    example = IntentExample.objects.create(tenant=other, text="theirs", label="search")
    assert admin_client.get(reverse("assistant_admin:intent_version", args=[1])).status_code == 404
    assert admin_client.get(reverse("assistant_admin:intent_version_panel", args=[1])).status_code == 404
    assert _post(admin_client, "intent_version_activate", args=[1]).status_code == 404
    assert _post(admin_client, "example_remove", args=[example.pk]).status_code == 404
    assert IntentExample.objects.filter(pk=example.pk).exists()
    assert IntentModelVersion.objects.get(tenant=other).status == IntentModelStatus.READY


@pytest.mark.parametrize(
    ("name", "args", "method"),
    [
        ("intents", [], "get"),
        ("intent_add", [], "post"),
        ("example_add", [], "post"),
        ("retrain", [], "post"),
        ("rollback", [], "post"),
        ("intent_version", [1], "get"),
        ("intent_version_activate", [1], "post"),
    ],
)
def test_members_get_403(client, member_of, name, args, method):
    tenant = TenantFactory()
    IntentModelVersion.objects.create(tenant=tenant, number=1, status=IntentModelStatus.READY)
    client.force_login(member_of(tenant, role=Role.MEMBER))
    assert getattr(client, method)(reverse(f"assistant_admin:{name}", args=args)).status_code == 403
    assert IntentModelVersion.objects.get(tenant=tenant).status == IntentModelStatus.READY


def test_an_intent_is_switched_off_and_on(admin_client):
    _canteen(admin_client)
    intent = TenantIntent.objects.get(tenant=admin_client.tenant, name="canteen")
    assert _post(admin_client, "intent_set_active", {"active": "0"}, args=["canteen"]).status_code == 302
    intent.refresh_from_db()
    assert not intent.is_active
    page = admin_client.get(reverse("assistant_admin:intents")).content.decode()
    assert 'aria-label="Switch on canteen"' in page
    _post(admin_client, "intent_set_active", {"active": "1"}, args=["canteen"])
    intent.refresh_from_db()
    assert intent.is_active
    assert _post(admin_client, "intent_set_active", {"active": "1"}, args=["nope"]).status_code == 404
    events = AuditEvent.objects.filter(tenant=admin_client.tenant, action="intent.set_active").order_by("id")
    assert [e.extra["active"] for e in events] == [False, True]
