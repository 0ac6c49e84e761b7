"""Which router routes a tenant's messages, and what a route means for that tenant.

The tenant's active version (if any) replaces Tessera's default router. Each process keeps the
router it loaded per tenant, keyed by the version's id, and asks the database for the active id on
every message (one indexed query): an activation or a rollback in any process reaches every web
worker on its next message, with no restart. A router file that cannot be loaded is logged once
and the default router is used instead.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from assistant.models import IntentModelStatus, IntentModelVersion, TenantIntent
from ingest.engines import get_embedder
from retrieval.embedding import EmbedderUnavailable
from retrieval.intent import DEFAULT_ROUTES, IntentModelError, IntentRouter

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# tenant id -> (active version id, its router; None when its file could not be loaded)
_routers: dict[int, tuple[int, IntentRouter | None]] = {}


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """Where a message goes: ``route`` is what the ledger records; a tenant intent adds its canned
    ``reply``, or the ``access_group_id`` whose documents alone are searched."""

    route: str
    reply: str = ""
    access_group_id: int | None = None
    # the router's own label, when the documents overruled it or it was unsure of a search
    routed_from: str = ""
    confidence: float = 1.0  # the router's probability for its label (1.0: no router decided)


def tenant_router(tenant_id: int) -> IntentRouter | None:
    """The tenant's active router, loaded once per version; None: use the default router."""
    active = (
        IntentModelVersion.objects.filter(tenant_id=tenant_id, status=IntentModelStatus.ACTIVE)
        .values_list("pk", "file_path", "sha256")
        .first()
    )
    if active is None:
        return None
    version_id, file_path, sha256 = active
    cached = _routers.get(tenant_id)
    if cached is not None and cached[0] == version_id:
        return cached[1]
    router = _load(tenant_id, version_id, Path(settings.TESSERA["MODELS_DIR"]) / file_path, sha256)
    with _lock:
        _routers[tenant_id] = (version_id, router)  # replaces the tenant's older version, if any
    return router


def _load(tenant_id: int, version_id: int, path: Path, sha256: str) -> IntentRouter | None:
    try:
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            raise IntentModelError(f"{path} is not the file that was trained (sha256 differs)")
        return IntentRouter.load(path, get_embedder())
    except (IntentModelError, EmbedderUnavailable, OSError):
        logger.exception(
            "intent router of tenant=%s version=%s cannot be loaded: using the default router",
            tenant_id,
            version_id,
        )
        return None


def route_choice(tenant_id: int, label: str, confidence: float = 1.0) -> RouteChoice:
    """What a router's label means for the tenant: a built-in route, one of its active intents, or
    (an intent since switched off or removed) a question."""
    if label in DEFAULT_ROUTES:
        return RouteChoice(label, confidence=confidence)
    intent = TenantIntent.objects.filter(tenant_id=tenant_id, name=label, is_active=True).first()
    if intent is None:
        return RouteChoice("question")
    return RouteChoice(intent.name, reply=intent.reply, access_group_id=intent.access_group_id)


def reset_tenant_routers() -> None:
    """Forget every loaded tenant router (tests)."""
    with _lock:
        _routers.clear()
