"""Asking and answering: a question becomes a stored turn, its answer is generated (streamed) and
stored with its citations and ledger in one transaction, whatever the outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from assistant import answer_cache, answering
from assistant.answerability import answerability_verdict, evidence_unanswerable
from assistant.answering import Draft, EvidenceShown, Token, ms_since
from assistant.citations import cited_spans
from assistant.injection import gives_orders_to_the_assistant
from assistant.intent_router import TrainingSetError, get_intent_router
from assistant.llm import LlmConfig, LlmUnavailable, Provider, breaker_for, chat_model_for, estimated_cost
from assistant.local_llm import LocalChatModel
from assistant.models import AnswerKind, Citation, Conversation, Message, Role
from assistant.policy import budget_spent, llm_config_for
from assistant.prompting import Evidence, EvidenceBudget, prompt_template, select_evidence
from assistant.rate_limits import ask_rate_charge
from assistant.search import SearchResults, search
from assistant.tenant_routing import RouteChoice, route_choice, route_gated, tenant_router
from config.errors import ApplicationError, NotFound
from governance.access import Principal
from governance.services import Actor, audit_record
from ingest.engines import get_embedder
from retrieval.intent import IntentModelError, Route

MAX_QUESTION_CHARS = 2000
SEARCH_DOCUMENTS = 5
# A search shows the best sentences of each document found, not the LLM's tight evidence budget.
SEARCH_BUDGET = EvidenceBudget(passages=SEARCH_DOCUMENTS, sentences=2 * SEARCH_DOCUMENTS, tokens=400)
# The routes the router may get wrong for a question its documents answer (a search keeps its own
# reply: it shows the passages anyway).
OVERRULED_BY_THE_DOCUMENTS = frozenset({"out_of_scope", "smalltalk", "abuse"})
# Small talk ("thanks!", "see you tomorrow") is about the conversation, not about anything the
# documents hold: the documents overrule the router only when it is unsure that a message is small talk
# (a question it mistook for one). Out of scope is different: "Who won the Super Bowl?" is out of
# scope with full confidence, and answerable all the same for a sports league.
SURE_OF_SMALLTALK = 0.9

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    """A step of a streamed answer: ``sources`` (the passages the LLM is about to read, before its
    first token), a ``token`` (text to append) or ``done`` (the stored message)."""

    kind: str
    text: str = ""
    message: Message | None = None
    evidence: tuple[Evidence, ...] = ()


def conversations_of(principal: Principal) -> QuerySet[Conversation]:
    """The principal's own conversations (a user's, or an API key's), newest first."""
    return Conversation.objects.filter(tenant_id=principal.tenant_id, **_owner(principal))


def _owner(principal: Principal, prefix: str = "") -> dict[str, object]:
    if principal.user_id is not None:
        return {f"{prefix}user_id": principal.user_id}
    return {f"{prefix}user__isnull": True, f"{prefix}api_key_id": principal.api_key_id}


def conversation_get(*, principal: Principal, conversation_id: int) -> Conversation:
    """The principal's own conversation (another user's or tenant's: 404)."""
    found = conversations_of(principal).filter(pk=conversation_id).first()
    if found is None:
        raise NotFound("No such conversation.")
    return found


def question_ask(
    *,
    principal: Principal,
    question: str,
    conversation: Conversation | None = None,
    rate_limit: bool = True,
) -> Message:
    """Store the principal's question as a new turn (starting a conversation if none is given).

    Every way in (the chat, the REST API, the OpenAI-compatible endpoint) asks through here, so the
    ask rate is charged here, before anything is stored, searched or generated (``AskRateLimited``,
    429, over it); ``rate_limit=False`` only for an operator's own runs (``manage.py evaluate``)."""
    question = " ".join(question.split())
    if not question:
        raise ApplicationError("Ask a question.", code="empty_question")
    if len(question) > MAX_QUESTION_CHARS:
        raise ApplicationError(
            f"Questions are limited to {MAX_QUESTION_CHARS} characters.", code="question_too_long"
        )
    if rate_limit:
        ask_rate_charge(principal=principal)
    with transaction.atomic():
        if conversation is None:
            conversation = Conversation.objects.create(
                tenant=principal.tenant,
                user_id=principal.user_id,
                api_key_id=principal.api_key_id,
                title=question[:80],
            )
        elif conversation.tenant_id != principal.tenant_id:
            raise NotFound("No such conversation.")
        else:
            conversation.save(update_fields=["updated_at"])
        return Message.objects.create(
            tenant=principal.tenant, conversation=conversation, role=Role.USER, text=question
        )


def question_get(*, principal: Principal, message_id: int) -> Message:
    """One of the principal's own questions (anything else: 404)."""
    found = (
        Message.objects.filter(
            tenant_id=principal.tenant_id,
            pk=message_id,
            role=Role.USER,
            **_owner(principal, "conversation__"),
        )
        .select_related("conversation")
        .first()
    )
    if found is None:
        raise NotFound("No such question.")
    return found


def answer_stream(*, principal: Principal, question: Message) -> Iterator[AnswerEvent]:
    """Answer ``question`` (once: a second call replays the stored answer), streaming the LLM's text.

    The last event is always ``done`` with the stored assistant message."""
    existing = Message.objects.filter(reply_to=question).first()
    if existing is not None:
        yield AnswerEvent("done", existing.text, existing)
        return
    started = time.perf_counter()
    timings: dict[str, float] = {}
    config = llm_config_for(principal.tenant)
    choice = _route(principal.tenant_id, question.text, timings)
    choice, found = _in_the_documents(principal, question.text, choice, timings)
    route = choice.route
    cache = answer_cache.cache_probe(principal=principal, question=question, route=route, timings=timings)
    if cache is not None and cache.hit is not None:
        message = answer_cache.cache_answer(question=question, probe=cache, started=started)
        yield AnswerEvent("done", message.text, message)
        return
    draft: Draft | None = None
    for step in _steps(principal, question.text, choice, config, timings, found):
        if isinstance(step, Token):
            yield AnswerEvent("token", step.text)
        elif isinstance(step, EvidenceShown):
            yield AnswerEvent("sources", evidence=tuple(step.evidence))
        else:
            draft = step
    if draft is None:  # pragma: no cover - generate() always ends with a draft
        raise RuntimeError("answering produced no answer")
    timings["total"] = ms_since(started)
    message = _store(principal, question, draft, config, choice)
    if cache is not None:
        answer_cache.cache_keep(probe=cache, message=message)
    yield AnswerEvent("done", message.text, message)


def _in_the_documents(
    principal: Principal, text: str, choice: RouteChoice, timings: dict[str, float]
) -> tuple[RouteChoice, Found | None]:
    """Knowledge-base relevance: a message the router sends away from the documents (out of scope,
    small talk, abuse) is still a question when the principal's documents answer it (the
    answerability check says so on what the search finds): "Who won the Super Bowl?" is out of scope
    for most companies, not for a sports league. The route then becomes ``question`` and what was
    found is passed on, not searched again. A message that gives the assistant orders (an injection
    attempt) is never overruled: it stays refused whatever the documents say."""
    if choice.route not in OVERRULED_BY_THE_DOCUMENTS or not settings.TESSERA["ANSWERABILITY"]:
        return choice, None
    if choice.route == "abuse" and gives_orders_to_the_assistant(text):
        return choice, None
    if choice.route == "smalltalk" and choice.confidence >= SURE_OF_SMALLTALK:
        return choice, None
    started = time.perf_counter()
    found = _retrieve(principal, text, timings, signals=True)
    verdict = answerability_verdict(*found, relevance=True) if found[1] else None
    timings["kb_check"] = ms_since(started)
    if verdict is None or verdict.abstain:
        return choice, None
    logger.info("%s message answered from the documents p=%.3f", choice.route, verdict.probability)
    return RouteChoice("question", routed_from=choice.route), found


def _steps(
    principal: Principal,
    text: str,
    choice: RouteChoice,
    config: LlmConfig,
    timings: dict[str, float],
    found: Found | None = None,
) -> Iterator[Token | EvidenceShown | Draft]:
    """The reply for the route chosen, as a :class:`Draft` (last); an LLM's answer is streamed
    first as :class:`Token` s. ``found``: a question's search, already made."""
    if choice.reply:
        yield answering.reply_draft(choice.reply, timings)
    elif choice.route in answering.ROUTE_REPLIES:
        yield answering.route_draft(choice.route, timings)
    elif choice.route == "search":
        yield answering.search_draft(_evidence(principal, text, timings, SEARCH_BUDGET), timings)
    elif not (
        found := found or _retrieve(principal, text, timings, within=choice.access_group_id, signals=True)
    )[1]:
        yield answering.not_found_draft([], **timings)
    elif reason := evidence_unanswerable(*found, timings):  # too weak to answer: no LLM call
        abstained = answering.not_found_draft(found[1], **timings)
        abstained.fallback_reason = reason
        yield abstained
    else:
        yield from _generate(principal, text, found[1], config, timings)


def _route(tenant_id: int, text: str, timings: dict[str, float]) -> RouteChoice:
    """Where the message goes: ``question`` (the documents and, if needed, the LLM), ``search``,
    ``smalltalk``, ``out_of_scope``, ``abuse`` or one of the tenant's own intents, by the tenant's
    active router or else the default one. With routing off, or no router to be had, every message
    is a question."""
    if not settings.TESSERA["INTENT_ROUTING"]:
        return RouteChoice("question")
    started = time.perf_counter()
    try:
        router = tenant_router(tenant_id) or get_intent_router()
        routed = router.route(text)
    except (IntentModelError, TrainingSetError, OSError):
        logger.exception("intent routing failed tenant=%s: answering as a question", tenant_id)
        routed = Route("question", 1.0)
    timings["route"] = ms_since(started)
    label = route_gated(routed, text)
    if label != routed.label:
        logger.info("tenant=%s %s unsure p=%.3f: a question", tenant_id, routed.label, routed.confidence)
        return RouteChoice(label, routed_from=routed.label, confidence=routed.confidence)
    return route_choice(tenant_id, label, routed.confidence)


def answer(
    *,
    principal: Principal,
    question: str,
    conversation: Conversation | None = None,
    rate_limit: bool = True,
) -> Message:
    """Ask and answer in one call (the JSON path): the stored assistant message."""
    asked = question_ask(
        principal=principal, question=question, conversation=conversation, rate_limit=rate_limit
    )
    message = None
    for event in answer_stream(principal=principal, question=asked):
        message = event.message or message
    if message is None:  # pragma: no cover - answer_stream always ends with "done"
        raise RuntimeError("answering produced no answer")
    return message


def llm_warm_up(*, principal: Principal) -> None:
    """Load the principal's tenant's embedded model and prefill the fixed system prompt, so the
    next question pays for neither (nothing to do for a server's model, or when none can be had)."""
    config = llm_config_for(principal.tenant)
    if config.provider != Provider.LOCAL:
        return
    try:
        model = chat_model_for(config, models_dir=Path(settings.TESSERA["MODELS_DIR"]))
    except LlmUnavailable:
        return  # each answer will say why, in its extractive fallback
    if isinstance(model, LocalChatModel):
        model.warm_up(prompt_template("system"))


def _evidence(
    principal: Principal,
    question: str,
    timings: dict[str, float],
    budget: EvidenceBudget | None = None,
    *,
    within: int | None = None,
) -> list[Evidence]:
    """The best passages for ``question`` the principal may see (``within``: of that access group's
    documents only, as a tenant intent asks)."""
    return _retrieve(principal, question, timings, budget, within=within)[1]


Found = tuple[SearchResults, list[Evidence]]  # a search's results and the evidence kept


def _retrieve(
    principal: Principal,
    question: str,
    timings: dict[str, float],
    budget: EvidenceBudget | None = None,
    *,
    within: int | None = None,
    signals: bool = False,
) -> Found:
    """The search's results and the evidence kept; ``signals`` also gathers what the answerability
    check needs (when the check is on)."""
    started = time.perf_counter()
    budget = budget or EvidenceBudget()
    results = search(
        principal=principal,
        query=question,
        k=SEARCH_DOCUMENTS,
        passages_per_document=budget.searched,
        access_group_id=within,
        signals=signals and settings.TESSERA["ANSWERABILITY"],
    )
    timings["retrieve"] = ms_since(started)
    if not results.documents or results.query_vector is None:
        return results, []
    started = time.perf_counter()
    evidence = select_evidence(
        results.query_vector, results.documents, embedder=get_embedder(), budget=budget, question=question
    )
    timings["compress"] = ms_since(started)
    return results, evidence


def _generate(
    principal: Principal,
    question: str,
    evidence: list[Evidence],
    config: LlmConfig,
    timings: dict[str, float],
) -> Iterator[Token | EvidenceShown | Draft]:
    if config.provider == Provider.EXTRACTIVE:
        yield answering.extractive_draft(evidence, "this workspace answers without a language model", timings)
        return
    if budget_spent(principal.tenant):
        yield answering.extractive_draft(evidence, "this month's language-model budget is spent", timings)
        return
    try:
        model = chat_model_for(config, models_dir=Path(settings.TESSERA["MODELS_DIR"]))
    except LlmUnavailable as exc:
        yield answering.extractive_draft(evidence, f"the language model is not configured: {exc}", timings)
        return
    yield EvidenceShown(evidence)
    yield from answering.generate(
        question,
        evidence,
        model=model,
        breaker=breaker_for(config),
        embedder=get_embedder(),
        timings=timings,
        timeout_s=config.timeout_s,
    )


def _store(
    principal: Principal, question: Message, draft: Draft, config: LlmConfig, choice: RouteChoice
) -> Message:
    try:
        return _store_once(principal, question, draft, config, choice)
    except IntegrityError:  # answered meanwhile by another request (a reconnecting stream): keep that one
        return Message.objects.get(reply_to=question)


def _store_once(
    principal: Principal, question: Message, draft: Draft, config: LlmConfig, choice: RouteChoice
) -> Message:
    checked, route = draft.checked, choice.route
    cost = estimated_cost(
        config.model, draft.prompt_tokens, draft.completion_tokens, settings.TESSERA["LLM_PRICES"]
    )
    by_marker = {item.marker: item for item in draft.evidence}
    with transaction.atomic():
        message = Message.objects.create(
            tenant=principal.tenant,
            conversation=question.conversation,
            role=Role.ASSISTANT,
            reply_to=question,
            text=draft.text,
            kind=AnswerKind(draft.kind),
            route=route,
            llm_called=draft.llm_called,
            provider=config.provider.value if draft.llm_called else "",
            model_name=config.model if draft.llm_called else "",
            prompt_tokens=draft.prompt_tokens,
            completion_tokens=draft.completion_tokens,
            cost_usd=Decimal(str(round(cost, 6))),
            timings_ms=draft.timings_ms,
            fallback_reason=draft.fallback_reason[:300],
            sentences=[
                {"text": s.text, "markers": list(s.markers), "supported": s.supported}
                for s in checked.sentences
            ]
            if checked
            else [],
            unsupported_sentences=checked.unsupported if checked else 0,
        )
        Citation.objects.bulk_create(
            [_citation(principal, message, by_marker[m]) for m in draft.cited_markers if m in by_marker]
        )
        audit_record(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            # an abusive message (insults, attempts to take over the assistant) is refused and logged
            action="question.refused" if route == "abuse" else "question.answered",
            target=message,
            extra={
                "kind": draft.kind,
                "route": route,
                "llm_called": draft.llm_called,
                **({"routed_from": choice.routed_from} if choice.routed_from else {}),
            },
        )
    return message


def _citation(principal: Principal, message: Message, item: Evidence) -> Citation:
    passage = item.passage
    return Citation(
        tenant=principal.tenant,
        message=message,
        marker=item.marker,
        chunk_id=passage.chunk_id,
        version_id=passage.version_id,
        document_id=item.document_id,
        title=item.title[:300],
        page=passage.page,
        heading_path=list(passage.heading_path),
        char_start=passage.char_start,
        char_end=passage.char_end,
        spans=cited_spans(passage.text, item.sentences),
        score=float(passage.score),
    )
