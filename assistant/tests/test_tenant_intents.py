"""A tenant's own intent routing: examples and intents, retraining in the background, evaluation
before activation, rollback, and isolation between tenants."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from assistant.answering import pipeline, questions
from assistant.models import AnswerKind, IntentExample, IntentModelStatus, IntentModelVersion, TenantIntent
from assistant.routing import intents, training
from assistant.routing.intents import (
    intent_example_add,
    intent_example_remove,
    intent_model_activate,
    intent_model_retrain,
    intent_model_rollback,
    tenant_intent_add,
    tenant_intent_set_active,
)
from assistant.routing.tenant_router import tenant_router
from assistant.routing.training import intent_model_train_or_fail
from config.errors import ApplicationError, Conflict, NotFound
from governance.access import principal_for_membership
from governance.models import AuditEvent, Role
from governance.services import Actor
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db

ADMIN = Actor(label="admin")
LUNCH_REPLY = "Today's menu is on the intranet's canteen page."
LUNCH = ["what is for lunch", "lunch menu today", "is lunch served at noon", "vegan lunch options"]


@pytest.fixture
def llm(use_llm):
    """An LLM that must not be called (it fails the test if it is)."""

    class Forbidden:
        def __getattr__(self, name):
            raise AssertionError(f"the LLM was used ({name}) on a route that needs none")

    return use_llm(Forbidden())


def _member(tenant, role=Role.MEMBER):
    return principal_for_membership(MembershipFactory(tenant=tenant, role=role))


def _answer(principal, text):
    asked = questions.question_ask(principal=principal, question=text)
    return list(pipeline.answer_stream(principal=principal, question=asked))[-1].message


def _canteen(tenant):
    tenant_intent_add(tenant=tenant, actor=ADMIN, name="canteen", reply=LUNCH_REPLY)
    for text in LUNCH:
        intent_example_add(tenant=tenant, actor=ADMIN, text=text, label="canteen")


def _trained(tenant):
    version = intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    assert intent_model_train_or_fail(version.pk) == IntentModelStatus.READY
    version.refresh_from_db()
    return version


def test_a_retrained_candidate_changes_routes_only_once_activated_and_rollback_restores_them(
    intent_training, use_router, llm, settings
):
    use_router()  # the default router: a keyword fake that calls lunch questions "question"
    tenant = TenantFactory()
    principal = _member(tenant)
    _canteen(tenant)
    version = _trained(tenant)

    assert version.status == IntentModelStatus.READY and version.number == 1
    assert version.accuracy == 1.0 and version.evaluation["tenant_accuracy"] == 1.0
    assert version.evaluation["labels"] == [
        "abuse",
        "canteen",
        "out_of_scope",
        "question",
        "search",
        "smalltalk",
    ]
    assert version.example_counts["tenant"] == 4 and version.example_counts["by_label"]["canteen"] == 4
    assert version.train_seconds > 0 and len(version.sha256) == 64
    assert (Path(settings.TESSERA["MODELS_DIR"]) / version.file_path).is_file()
    assert _answer(principal, "anything nice for lunch?").route == "question"  # a candidate routes nothing

    intent_model_activate(tenant=tenant, actor=ADMIN, number=1)
    message = _answer(principal, "anything nice for lunch?")
    assert (message.route, message.text, message.llm_called) == ("canteen", LUNCH_REPLY, False)

    assert intent_model_rollback(tenant=tenant, actor=ADMIN) is None  # back to the default router
    assert _answer(principal, "anything nice for lunch?").route == "question"
    version.refresh_from_db()
    assert version.status == IntentModelStatus.RETIRED
    actions = list(
        AuditEvent.objects.filter(tenant=tenant, action__startswith="intent_model.").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == [
        "intent_model.activate",
        "intent_model.retrain",
        "intent_model.rollback",
        "intent_model.trained",
    ]


def test_rollback_returns_to_the_version_active_before(intent_training, use_router):
    use_router()
    tenant = TenantFactory()
    _canteen(tenant)
    first = _trained(tenant)
    intent_model_activate(tenant=tenant, actor=ADMIN, number=first.number)
    intent_example_add(tenant=tenant, actor=ADMIN, text="where do I park", label="question")
    second = _trained(tenant)
    assert second.number == 2 and second.example_counts["tenant"] == 5
    intent_model_activate(tenant=tenant, actor=ADMIN, number=2)
    assert tenant_router(tenant.pk).info["version"] == 2

    back = intent_model_rollback(tenant=tenant, actor=ADMIN)
    assert back is not None and back.number == 1
    assert tenant_router(tenant.pk).info["version"] == 1  # this process sees it on its next message
    assert dict(IntentModelVersion.objects.filter(tenant=tenant).values_list("number", "status")) == {
        1: IntentModelStatus.ACTIVE,
        2: IntentModelStatus.RETIRED,
    }
    assert intent_model_rollback(tenant=tenant, actor=ADMIN) is None
    with pytest.raises(ApplicationError, match="default router is in use already"):
        intent_model_rollback(tenant=tenant, actor=ADMIN)


def test_a_loaded_router_is_reused_until_the_active_version_changes(intent_training, monkeypatch):
    tenant = TenantFactory()
    _canteen(tenant)
    intent_model_activate(tenant=tenant, actor=ADMIN, number=_trained(tenant).number)
    router = tenant_router(tenant.pk)
    monkeypatch.setattr("assistant.routing.tenant_router._load", lambda *a: pytest.fail("loaded again"))
    assert tenant_router(tenant.pk) is router


def test_a_tenants_model_and_intents_never_route_another_tenant(intent_training, use_router, llm):
    use_router()
    ours, theirs = TenantFactory(), TenantFactory()
    _canteen(ours)
    intent_model_activate(tenant=ours, actor=ADMIN, number=_trained(ours).number)
    assert tenant_router(theirs.pk) is None
    message = _answer(_member(theirs), "anything nice for lunch?")
    assert message.route == "question" and message.text != LUNCH_REPLY
    assert _answer(_member(ours), "anything nice for lunch?").route == "canteen"
    with pytest.raises(NotFound):  # version numbers are per tenant: theirs has none
        intent_model_activate(tenant=theirs, actor=ADMIN, number=1)
    example = IntentExample.objects.get(tenant=ours, text=LUNCH[0])
    with pytest.raises(NotFound):
        intent_example_remove(tenant=theirs, actor=ADMIN, example_id=example.pk)
    with pytest.raises(ApplicationError, match="Unknown label 'canteen'"):  # our intent is not theirs
        intent_example_add(tenant=theirs, actor=ADMIN, text="lunch?", label="canteen")


def test_a_canned_reply_intent_answers_end_to_end_without_the_llm(intent_training, use_router, llm):
    use_router()
    tenant = TenantFactory()
    _canteen(tenant)
    intent_model_activate(tenant=tenant, actor=ADMIN, number=_trained(tenant).number)
    message = _answer(_member(tenant), "Is there a vegetarian lunch?")
    assert (message.route, message.kind, message.llm_called) == ("canteen", AnswerKind.NO_LLM, False)
    assert message.text == LUNCH_REPLY and not message.citations.exists() and "route" in message.timings_ms
    event = AuditEvent.objects.get(tenant=tenant, action="question.answered")
    assert event.extra == {"kind": "no_llm", "route": "canteen", "llm_called": False}
    # built-in routes still work through the tenant's model
    assert _answer(_member(tenant), "hello, good morning").route == "smalltalk"

    tenant_intent_set_active(tenant=tenant, actor=ADMIN, name="canteen", active=False)
    assert _answer(_member(tenant), "Is there a vegetarian lunch?").route == "question"


def test_a_collection_intent_searches_only_its_groups_documents(intent_training, use_router):
    from ingest.tests.builders import ingest_now

    use_router()
    tenant = TenantFactory()
    hr = AccessGroupFactory(tenant=tenant, name="HR")
    ingest_now(
        tenant,
        "payroll.md",
        b"# Payroll\n\nPayroll runs on the 25th; payroll questions go to HR.\n",
        access_groups=[hr],
    )
    ingest_now(tenant, "facilities.md", b"# Payroll desk\n\nThe payroll desk moved to the second floor.\n")
    tenant_intent_add(tenant=tenant, actor=ADMIN, name="hr_docs", access_group=hr)
    for text in ["when is payroll", "payroll date", "payroll slip missing", "payroll tax question"]:
        intent_example_add(tenant=tenant, actor=ADMIN, text=text, label="hr_docs")
    intent_model_activate(tenant=tenant, actor=ADMIN, number=_trained(tenant).number)

    member_of_hr = MembershipFactory(tenant=tenant, role=Role.MEMBER)
    hr.members.add(member_of_hr)
    message = _answer(principal_for_membership(member_of_hr), "When does payroll run?")
    assert message.route == "hr_docs" and message.citations.exists()
    assert set(message.citations.values_list("document__title", flat=True)) == {"Payroll"}
    # a member outside the group: the intent narrows what they may see, it never widens it
    outsider = _answer(_member(tenant), "When does payroll run?")
    assert outsider.route == "hr_docs" and outsider.kind == AnswerKind.NOT_FOUND
    assert not outsider.citations.exists()


def test_a_training_that_cannot_succeed_is_stored_as_failed_with_the_reason(
    intent_training, tmp_path, monkeypatch
):
    tenant = TenantFactory()
    _canteen(tenant)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "hi", "label": "smalltalk"}\n{"text": "x", "label": "weather"}\n')
    monkeypatch.setattr(training, "BASE_EXAMPLES", broken)
    version = intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    assert intent_model_train_or_fail(version.pk) == IntentModelStatus.FAILED
    version.refresh_from_db()
    assert version.status == IntentModelStatus.FAILED and "broken.jsonl:2" in version.error
    assert version.file_path == "" and version.finished_at is not None
    assert AuditEvent.objects.filter(tenant=tenant, action="intent_model.failed").count() == 1
    with pytest.raises(ApplicationError, match="only a trained version can be activated"):
        intent_model_activate(tenant=tenant, actor=ADMIN, number=version.number)
    assert intent_model_train_or_fail(version.pk) == IntentModelStatus.FAILED  # a second run does nothing


def test_an_active_router_whose_file_changed_is_not_used(intent_training, use_router, llm, settings):
    use_router()
    tenant = TenantFactory()
    _canteen(tenant)
    version = intent_model_activate(tenant=tenant, actor=ADMIN, number=_trained(tenant).number)
    path = Path(settings.TESSERA["MODELS_DIR"]) / version.file_path
    path.write_bytes(path.read_bytes() + b"x")
    assert tenant_router(tenant.pk) is None
    assert _answer(_member(tenant), "anything nice for lunch?").route == "question"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"name": "search", "reply": "x"}, "builtin_intent"),
        ({"name": "Bad Name!", "reply": "x"}, "invalid_name"),
        ({"name": "x", "reply": "x"}, "invalid_name"),
        ({"name": "canteen"}, "invalid_intent"),
        ({"name": "canteen", "reply": "x" * 2001}, "reply_too_long"),
    ],
)
def test_bad_intents_are_refused_clearly(kwargs, code):
    with pytest.raises(ApplicationError) as caught:
        tenant_intent_add(tenant=TenantFactory(), actor=ADMIN, **kwargs)
    assert caught.value.code == code and caught.value.status == 400
    assert not TenantIntent.objects.exists()


def test_an_intent_needs_a_reply_or_a_group_of_its_own_tenant():
    tenant = TenantFactory()
    group = AccessGroupFactory(tenant=tenant)
    with pytest.raises(ApplicationError, match="not both"):
        tenant_intent_add(tenant=tenant, actor=ADMIN, name="hr", reply="x", access_group=group)
    with pytest.raises(ApplicationError, match="same workspace"):
        tenant_intent_add(tenant=tenant, actor=ADMIN, name="hr", access_group=AccessGroupFactory())
    tenant_intent_add(tenant=tenant, actor=ADMIN, name="hr", access_group=group)
    with pytest.raises(Conflict):
        tenant_intent_add(tenant=tenant, actor=ADMIN, name="hr", reply="again")


@pytest.mark.parametrize(
    ("text", "label", "code"),
    [
        ("   ", "question", "empty_example"),
        ("x" * 501, "question", "example_too_long"),
        ("where is lunch", "canteen", "unknown_label"),
        ("Hello  THERE", "smalltalk", "duplicate_example"),
    ],
)
def test_bad_examples_are_refused_clearly(text, label, code):
    tenant = TenantFactory()
    intent_example_add(tenant=tenant, actor=ADMIN, text="hello there", label="smalltalk")
    with pytest.raises(ApplicationError) as caught:
        intent_example_add(tenant=tenant, actor=ADMIN, text=text, label=label)
    assert caught.value.code == code and caught.value.status in (400, 409)
    assert IntentExample.objects.filter(tenant=tenant).count() == 1


def test_a_retrain_needs_examples_enough_per_intent_and_one_at_a_time(intent_training):
    tenant = TenantFactory()
    with pytest.raises(ApplicationError, match="Add labelled examples"):
        intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    tenant_intent_add(tenant=tenant, actor=ADMIN, name="canteen", reply=LUNCH_REPLY)
    intent_example_add(tenant=tenant, actor=ADMIN, text="lunch?", label="canteen")
    with pytest.raises(ApplicationError, match=r"at least 3 examples: canteen \(1\)"):
        intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    tenant_intent_set_active(tenant=tenant, actor=ADMIN, name="canteen", active=False)
    with pytest.raises(
        ApplicationError, match="Add labelled examples"
    ):  # an inactive intent's examples are left out
        intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    intent_example_add(tenant=tenant, actor=ADMIN, text="hi folks", label="smalltalk")
    intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    with pytest.raises(Conflict, match="already running"):
        intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    assert IntentModelVersion.objects.get(tenant=tenant).examples == [["hi folks", "smalltalk"]]
    with pytest.raises(ApplicationError, match="is training"):
        intent_model_activate(tenant=tenant, actor=ADMIN, number=1)


def test_the_training_task_runs_on_commit_and_leaves_a_candidate(
    intent_training, settings, django_capture_on_commit_callbacks
):
    from config.celery import app

    tenant = TenantFactory()
    _canteen(tenant)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            version = intent_model_retrain(tenant=tenant, actor=ADMIN)
            assert IntentModelVersion.objects.get(pk=version.pk).status == IntentModelStatus.TRAINING
    finally:
        app.conf.task_always_eager = False
    assert len(callbacks) == 1
    version.refresh_from_db()
    assert version.status == IntentModelStatus.READY and version.accuracy is not None
    assert tenant_router(tenant.pk) is None  # trained, not activated
    # a redelivered task (acks_late) finds the version trained and changes nothing
    assert intent_model_train_or_fail(version.pk) == IntentModelStatus.READY
    assert len(list(Path(settings.TESSERA["MODELS_DIR"]).rglob("*.npz"))) == 1


def test_of_two_runs_of_one_training_the_first_to_finish_is_kept(intent_training, monkeypatch, settings):
    tenant = TenantFactory()
    _canteen(tenant)
    version = intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    real = training.train_and_evaluate

    def finished_meanwhile(*args, **kwargs):  # another worker stores its result during this training
        monkeypatch.setattr(training, "train_and_evaluate", real)
        assert training.intent_model_train(version.pk) == IntentModelStatus.READY
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_and_evaluate", finished_meanwhile)
    assert training.intent_model_train(version.pk) == IntentModelStatus.READY
    version.refresh_from_db()
    files = list(Path(settings.TESSERA["MODELS_DIR"]).rglob("*.npz"))
    assert [f.relative_to(settings.TESSERA["MODELS_DIR"]) for f in files] == [Path(version.file_path)]


def test_a_training_abandoned_for_an_hour_does_not_block_the_next(intent_training):
    tenant = TenantFactory()
    _canteen(tenant)
    stuck = intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    IntentModelVersion.objects.filter(pk=stuck.pk).update(created_at=stuck.created_at - timedelta(hours=2))
    assert intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False).number == 2
    stuck.refresh_from_db()
    assert stuck.status == IntentModelStatus.FAILED and "abandoned" in stuck.error


def test_a_tenant_holds_a_bounded_number_of_examples(monkeypatch):
    monkeypatch.setattr(intents, "MAX_EXAMPLES_PER_TENANT", 2)
    tenant = TenantFactory()
    intent_example_add(tenant=tenant, actor=ADMIN, text="hello", label="smalltalk")
    intent_example_add(tenant=tenant, actor=ADMIN, text="hi", label="smalltalk")
    with pytest.raises(ApplicationError, match="can hold 2 examples") as caught:
        intent_example_add(tenant=tenant, actor=ADMIN, text="hey", label="smalltalk")
    assert caught.value.code == "too_many_examples"


def test_a_crash_in_the_task_marks_the_version_failed(intent_training, monkeypatch):
    from assistant.tasks import train_intent_model_task

    tenant = TenantFactory()
    _canteen(tenant)
    version = intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(training, "train_and_evaluate", crash)
    assert train_intent_model_task.apply(args=[version.pk]).get() == "failed"
    version.refresh_from_db()
    assert version.status == IntentModelStatus.FAILED and "internal error" in version.error
