"""The training of one version of a tenant's router, as its Celery task runs it: fit the router on
Tessera's base examples and the version's snapshot of the tenant's own (``assistant.routing.fit``),
store its file and out-of-fold evaluation, and make it a candidate, or store why it failed."""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assistant.models import IntentModelStatus, IntentModelVersion
from assistant.routing.fit import TrainedRouter, train_and_evaluate
from assistant.routing.router import DEFAULT_CONFIG, DEFAULT_EXAMPLES, ROUTER_FOLDER, training_set_read
from config.engines import get_embedder
from governance.services import SYSTEM, audit_record
from retrieval.intent import LabelledTexts

logger = logging.getLogger(__name__)

# What a tenant's router is trained on besides the tenant's examples, and how (tests swap them).
BASE_EXAMPLES: Path = DEFAULT_EXAMPLES
TRAINING_CONFIG = DEFAULT_CONFIG


class TrainingFailed(Exception):
    """Training cannot succeed with these inputs (bad examples file, no embedder, too few labels)."""


def intent_model_train(version_id: int) -> str:
    """Train the version (if it is still to be trained), store its file and evaluation, and make it a
    candidate; returns its status. Safe to run twice: only the first to finish is kept."""
    version = IntentModelVersion.objects.filter(pk=version_id).first()
    if version is None or version.status != IntentModelStatus.TRAINING:
        return version.status if version is not None else "gone"
    try:
        default = training_set_read(BASE_EXAMPLES)
        tenant_set = LabelledTexts(
            tuple(t for t, _ in version.examples), tuple(label for _, label in version.examples)
        )
        trained = train_and_evaluate(get_embedder(), default, tenant_set, config=TRAINING_CONFIG)
    except ValueError as exc:  # the examples files, the training and the router's own checks
        raise TrainingFailed(str(exc)) from exc
    models_dir = Path(settings.TESSERA["MODELS_DIR"])
    name = f"v{version.number}-{secrets.token_hex(4)}.npz"  # two runs of one task never share a file
    relative = Path(ROUTER_FOLDER) / "tenants" / str(version.tenant_id) / name
    trained.router.info |= {"tenant": version.tenant_id, "version": version.number}
    trained.router.save(models_dir / relative)
    digest = hashlib.sha256((models_dir / relative).read_bytes()).hexdigest()
    stored, status = _store_trained(version_id, trained, str(relative), digest)
    if not stored:  # finished (or failed) meanwhile by another run: keep that one
        (models_dir / relative).unlink(missing_ok=True)
    return status


def _store_trained(version_id: int, trained: TrainedRouter, file_path: str, digest: str) -> tuple[bool, str]:
    """Make the version a candidate with its evaluation and file, if it is still training; whether
    it was, and the version's status."""
    evaluation = trained.evaluation
    with transaction.atomic():
        locked = IntentModelVersion.objects.select_for_update().get(pk=version_id)
        if locked.status != IntentModelStatus.TRAINING:
            return False, locked.status
        locked.status = IntentModelStatus.READY
        locked.accuracy, locked.oos_recall, locked.oos_precision = (
            evaluation["accuracy"], evaluation["oos_recall"], evaluation["oos_precision"]
        )  # fmt: skip
        locked.evaluation, locked.example_counts = evaluation, trained.example_counts
        locked.train_seconds, locked.file_path, locked.sha256 = trained.seconds, file_path, digest
        locked.finished_at = timezone.now()
        locked.save()
        audit_record(
            tenant=locked.tenant, actor=SYSTEM, action="intent_model.trained", target=locked,
            extra={"number": locked.number, "accuracy": locked.accuracy, "seconds": trained.seconds},
        )  # fmt: skip
    logger.info(
        "intent model trained tenant=%s version=%s seconds=%.1f accuracy=%.3f",
        locked.tenant_id, locked.pk, trained.seconds, evaluation["accuracy"],
    )  # fmt: skip
    return True, IntentModelStatus.READY


def intent_model_fail(version_id: int, reason: str) -> None:
    """Mark a version that is still training as failed, with the reason (shown to its admins)."""
    with transaction.atomic():
        version = IntentModelVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None or version.status != IntentModelStatus.TRAINING:
            return
        version.status, version.error, version.finished_at = (
            IntentModelStatus.FAILED,
            reason[:2000],
            timezone.now(),
        )
        version.save(update_fields=["status", "error", "finished_at"])
        audit_record(
            tenant=version.tenant, actor=SYSTEM, action="intent_model.failed", target=version,
            extra={"number": version.number},
        )  # fmt: skip


def intent_model_train_or_fail(version_id: int) -> str:
    """``intent_model_train``, with a training that cannot succeed stored as failed (with why)."""
    try:
        return intent_model_train(version_id)
    except TrainingFailed as exc:
        logger.warning("intent model training failed version=%s: %s", version_id, exc)
        intent_model_fail(version_id, f"Training failed: {exc}")
        return IntentModelStatus.FAILED
