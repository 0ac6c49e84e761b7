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

from assistant.answering.injection import gives_orders_to_the_assistant
from assistant.models import IntentModelStatus, IntentModelVersion, TenantIntent
from config.engines import get_embedder
from retrieval.embedding import EmbedderUnavailable
from retrieval.intent import DEFAULT_ROUTES, IntentModelError, IntentRouter, Route
from retrieval.intent_validation import OUT_OF_SCOPE

logger = logging.getLogger(__name__)

# The costs of a wrong route are not alike: a work question refused, or answered "out of scope",
# loses its answer; a message wrongly sent to the documents costs one search (and maybe a "not in
# your documents"). So anything short of a confident non-question is a question. The bars were chosen
# on the shipped examples' 5-fold out-of-fold routes (docs/benchmarks.md, "Gates that never cost an
# answer"): at 0.8, 1 of 299 questions is still taken for abuse and 1 for out of scope. A refusal costs
# a work question its answer, while an attack sent to the documents meets a prompt that treats it as
# data: abuse needs 0.97. Work questions of the development sets (handbook_18f, debian_handbook,
# routing_workplace) reach 0.956 ("How do I make the admin list page searchable by customer email?",
# "our bastion is getting hammered by password-guessing bots"); orders to the assistant are refused
# at any confidence (``route_gated``).
SURE_OF_ABUSE = 0.97
SURE_OF_OUT_OF_SCOPE = 0.8
# A search replies with passages instead of an answer, so a question taken for a search loses its
# answer, while a search taken for a question still gets the passages (cited under an answer): 0.7,
# above a two-part how-to of debian_handbook that starts "I want a list of the config files..." (0.609).
SURE_OF_SEARCH = 0.7
_SURE_OF = {"abuse": SURE_OF_ABUSE, OUT_OF_SCOPE: SURE_OF_OUT_OF_SCOPE, "search": SURE_OF_SEARCH}

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


def route_gated(routed: Route, text: str) -> str:
    """The route a router's decision stands for: its label when it is sure of it, else ``question``.

    An unsure router (the energy score under its threshold) sends the message to the documents, not
    out of scope. Abuse, out of scope and search need a confident label, except that a message the
    router labels abuse and that gives the assistant orders (an explicit injection attempt) is refused
    at any confidence short of unsure (an unsure one still goes to the documents, where the prompt
    treats passages and questions as data)."""
    if routed.unsure:
        return "question"
    if routed.label == "abuse" and gives_orders_to_the_assistant(text):
        return "abuse"
    bar = _SURE_OF.get(routed.label)
    return "question" if bar is not None and routed.confidence < bar else routed.label


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
