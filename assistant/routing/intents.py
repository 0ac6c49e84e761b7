"""Writes on a tenant's own intent routing: its intents, its labelled examples, and the versions of
its router (retrain in the background, activate a candidate, roll back). Each write records its
audit row in the same transaction.

A retrain snapshots the tenant's examples into a new version (status ``training``) and queues
``assistant.train_intent_model``; the task (``assistant.routing.training``) stores the trained
router as a candidate (``ready``) with its out-of-fold evaluation (``assistant.routing.fit``),
never activating it. A tenant admin reads the evaluation, then activates it; a rollback goes back to
the version that was active before (or, from the first, to Tessera's default router).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from assistant.models import IntentExample, IntentModelStatus, IntentModelVersion, TenantIntent
from config.errors import ApplicationError, Conflict, NotFound
from config.outbox import outbox_add
from governance.models import AccessGroup, Tenant
from governance.services import Actor, audit_record, same_tenant_only
from retrieval.intent import DEFAULT_ROUTES

logger = logging.getLogger(__name__)

INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
MAX_EXAMPLE_CHARS = 500
MAX_REPLY_CHARS = 2000
MIN_EXAMPLES_PER_INTENT = 3
# Enough to teach a router many intents; a bound on what one training costs (seconds per thousand).
MAX_EXAMPLES_PER_TENANT = 5000
# A version still "training" after this long was abandoned (its worker died for good).
TRAINING_ABANDONED_AFTER = timedelta(hours=1)


def _check_intent(tenant: Tenant, name: str, reply: str, access_group: AccessGroup | None) -> None:
    if name in DEFAULT_ROUTES:
        raise ApplicationError(
            f"'{name}' is a built-in route: label examples with it directly instead.", code="builtin_intent"
        )
    if not INTENT_NAME.match(name):
        raise ApplicationError(
            "An intent's name is 2 to 32 lower-case letters, digits or underscores, starting with a letter.",
            code="invalid_name",
        )
    if bool(reply) == (access_group is not None):
        raise ApplicationError(
            "An intent needs either a reply or a target group, not both.", code="invalid_intent"
        )
    if len(reply) > MAX_REPLY_CHARS:
        raise ApplicationError(f"Replies are limited to {MAX_REPLY_CHARS} characters.", code="reply_too_long")
    if access_group is not None:
        same_tenant_only([access_group], tenant.pk, "The target group")


def tenant_intent_add(
    *, tenant: Tenant, actor: Actor, name: str, reply: str = "", access_group: AccessGroup | None = None
) -> TenantIntent:
    """Add an intent of the tenant's own: a canned ``reply``, or a search in ``access_group`` only."""
    name, reply = name.strip().lower(), reply.strip()
    _check_intent(tenant, name, reply, access_group)
    with transaction.atomic():
        try:
            with transaction.atomic():
                intent = TenantIntent.objects.create(
                    tenant=tenant,
                    name=name,
                    reply=reply,
                    access_group=access_group,
                    created_by_id=actor.user_id,
                )
        except IntegrityError as exc:
            raise Conflict(f"An intent named '{name}' already exists.") from exc
        audit_record(
            tenant=tenant,
            actor=actor,
            action="intent.create",
            target=intent,
            extra={"name": name, "access_group": access_group.pk if access_group else None},
        )
    return intent


def tenant_intent_set_active(*, tenant: Tenant, actor: Actor, name: str, active: bool) -> TenantIntent:
    """Switch an intent on or off; an inactive intent's messages are answered as questions, and its
    examples are left out of the next training."""
    with transaction.atomic():
        intent = TenantIntent.objects.select_for_update().filter(tenant=tenant, name=name).first()
        if intent is None:
            raise NotFound(f"No intent named '{name}'.")
        if intent.is_active != active:
            intent.is_active = active
            intent.save(update_fields=["is_active"])
            audit_record(
                tenant=tenant,
                actor=actor,
                action="intent.set_active",
                target=intent,
                extra={"active": active},
            )
    return intent


def intent_example_add(*, tenant: Tenant, actor: Actor, text: str, label: str) -> IntentExample:
    """Label a message: ``label`` is a built-in route or one of the tenant's intents."""
    text = " ".join(text.split())
    if not text:
        raise ApplicationError("An example needs a text.", code="empty_example")
    if len(text) > MAX_EXAMPLE_CHARS:
        raise ApplicationError(
            f"Examples are limited to {MAX_EXAMPLE_CHARS} characters.", code="example_too_long"
        )
    if label not in DEFAULT_ROUTES and not TenantIntent.objects.filter(tenant=tenant, name=label).exists():
        raise ApplicationError(
            f"Unknown label '{label}': use a built-in route ({', '.join(DEFAULT_ROUTES)}) "
            "or one of your intents.",
            code="unknown_label",
        )
    if IntentExample.objects.filter(tenant=tenant).count() >= MAX_EXAMPLES_PER_TENANT:
        raise ApplicationError(
            f"A workspace can hold {MAX_EXAMPLES_PER_TENANT} examples: remove some first.",
            code="too_many_examples",
        )
    existing = IntentExample.objects.filter(tenant=tenant, text__iexact=text).first()
    if existing is not None:
        raise Conflict(
            f"This text is already an example, labelled '{existing.label}'.", code="duplicate_example"
        )
    with transaction.atomic():
        try:
            with transaction.atomic():
                example = IntentExample.objects.create(
                    tenant=tenant, text=text, label=label, created_by_id=actor.user_id
                )
        except IntegrityError as exc:  # added meanwhile by another request
            raise Conflict("This text is already an example.", code="duplicate_example") from exc
        audit_record(
            tenant=tenant, actor=actor, action="intent_example.create", target=example, extra={"label": label}
        )
    return example


def intent_example_remove(*, tenant: Tenant, actor: Actor, example_id: int) -> None:
    """Remove one of the tenant's examples (another tenant's: 404); the next training leaves it out."""
    with transaction.atomic():
        example = IntentExample.objects.select_for_update().filter(tenant=tenant, pk=example_id).first()
        if example is None:
            raise NotFound("No such example.")
        audit_record(
            tenant=tenant,
            actor=actor,
            action="intent_example.delete",
            target=example,
            extra={"label": example.label},
        )
        example.delete()


def _training_examples(tenant: Tenant) -> list[list[str]]:
    """The tenant's examples to train on, [text, label]; refuses a set that cannot train well."""
    active = set(TenantIntent.objects.filter(tenant=tenant, is_active=True).values_list("name", flat=True))
    rows = [
        [text, label]
        for text, label in IntentExample.objects.filter(tenant=tenant)
        .order_by("pk")
        .values_list("text", "label")
        if label in DEFAULT_ROUTES or label in active
    ]
    if not rows:
        raise ApplicationError("Add labelled examples before training.", code="no_examples")
    counts = dict(
        IntentExample.objects.filter(tenant=tenant, label__in=active)
        .values_list("label")
        .annotate(n=Count("pk"))
        .values_list("label", "n")
    )
    short = sorted(
        f"{name} ({counts.get(name, 0)})" for name in active if counts.get(name, 0) < MIN_EXAMPLES_PER_INTENT
    )
    if short:
        raise ApplicationError(
            f"Each active intent needs at least {MIN_EXAMPLES_PER_INTENT} examples: {', '.join(short)}.",
            code="too_few_examples",
        )
    return rows


def intent_model_retrain(*, tenant: Tenant, actor: Actor, enqueue: bool = True) -> IntentModelVersion:
    """Snapshot the tenant's examples into a new version and queue its training (``enqueue=False``:
    the caller runs ``intent_model_train_or_fail`` itself). The result is a candidate, not active."""
    examples = _training_examples(tenant)
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one retrain at a time per tenant
        running = IntentModelVersion.objects.filter(tenant=tenant, status=IntentModelStatus.TRAINING)
        abandoned = running.filter(created_at__lt=timezone.now() - TRAINING_ABANDONED_AFTER)
        abandoned.update(
            status=IntentModelStatus.FAILED,
            error="The training did not finish (abandoned).",
            finished_at=timezone.now(),
        )
        if running.exists():
            raise Conflict(
                "A training of this workspace's router is already running.", code="training_running"
            )
        number = (IntentModelVersion.objects.filter(tenant=tenant).aggregate(n=Max("number"))["n"] or 0) + 1
        version = IntentModelVersion.objects.create(
            tenant=tenant, number=number, examples=examples, requested_by_id=actor.user_id
        )
        audit_record(
            tenant=tenant, actor=actor, action="intent_model.retrain", target=version,
            extra={"number": number, "examples": len(examples)},
        )  # fmt: skip
        if enqueue:
            outbox_add("assistant.train_intent_model", version.pk)
    logger.info("intent model retrain queued tenant=%s version=%s number=%s", tenant.pk, version.pk, number)
    return version


def intent_model_activate(*, tenant: Tenant, actor: Actor, number: int) -> IntentModelVersion:
    """Make version ``number`` the tenant's router (every process sees it on its next message)."""
    with transaction.atomic():
        versions = IntentModelVersion.objects.select_for_update().filter(tenant=tenant)
        version = versions.filter(number=number).first()
        if version is None:
            raise NotFound(f"No intent model version {number}.")
        if version.status == IntentModelStatus.ACTIVE:
            return version
        if version.status not in (IntentModelStatus.READY, IntentModelStatus.RETIRED):
            raise ApplicationError(
                f"Version {number} is {version.status}: only a trained version can be activated.",
                code="not_ready",
            )
        current = versions.filter(status=IntentModelStatus.ACTIVE).first()
        if current is not None:
            current.status = IntentModelStatus.RETIRED
            current.save(update_fields=["status"])
        version.status, version.previous, version.activated_at = (
            IntentModelStatus.ACTIVE,
            current,
            timezone.now(),
        )
        version.save(update_fields=["status", "previous", "activated_at"])
        audit_record(
            tenant=tenant, actor=actor, action="intent_model.activate", target=version,
            extra={"number": number, "replaced": current.number if current else None},
        )  # fmt: skip
    return version


def intent_model_rollback(*, tenant: Tenant, actor: Actor) -> IntentModelVersion | None:
    """Retire the active version and reactivate the one it replaced; None: back to the default router."""
    with transaction.atomic():
        versions = IntentModelVersion.objects.select_for_update().filter(tenant=tenant)
        current = versions.filter(status=IntentModelStatus.ACTIVE).first()
        if current is None:
            raise ApplicationError(
                "No version is active: the default router is in use already.", code="nothing_to_roll_back"
            )
        current.status = IntentModelStatus.RETIRED
        current.save(update_fields=["status"])
        previous = current.previous
        if previous is not None:
            previous.status, previous.activated_at = IntentModelStatus.ACTIVE, timezone.now()
            previous.save(update_fields=["status", "activated_at"])
        audit_record(
            tenant=tenant, actor=actor, action="intent_model.rollback", target=current,
            extra={"from": current.number, "to": previous.number if previous else None},
        )  # fmt: skip
    return previous
