"""The answer pipeline: one question in, one stored answer out, streamed. Its steps, in order:

1. **route** (``assistant.routing``): small talk, out of scope, abuse, search, a tenant's own intent,
   or a question; the documents overrule a route that sends a question away (``_relevant``);
2. **cache** (``cache``): a repeated question the same sources answer is served from the cache; the
   probe runs before retrieval because a hit needs none;
3. **retrieve** (``search``, scoped to what the principal may see) and **compose** the evidence
   (``compose.select_evidence``: the sentences the LLM will read);
4. **decide** (``decide``): abstain without the LLM when the evidence cannot answer;
5. **generate** (``generate``, ``llm/``) at most one LLM call, streamed, with the labelled extractive
   answer when the LLM cannot be used, and **verify** (``verify``) each sentence against its citations;
6. **persist** (``persist``) the answer, its citations, ledger and audit row in one transaction.

Each step's time goes into the answer's :class:`Trace`, stored with it (``Message.timings_ms``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from assistant.answering import cache, generate
from assistant.answering.compose import Evidence, EvidenceBudget, prompt_template, select_evidence
from assistant.answering.decide import answerability_verdict, evidence_unanswerable
from assistant.answering.generate import Draft, EvidenceShown, Token
from assistant.answering.injection import gives_orders_to_the_assistant
from assistant.answering.llm.client import LlmConfig, LlmUnavailable, Provider, breaker_for, chat_model_for
from assistant.answering.llm.local import LocalChatModel
from assistant.answering.llm.policy import budget_spent, llm_config_for
from assistant.answering.persist import answer_store
from assistant.answering.questions import question_ask
from assistant.answering.search import SearchResults, search
from assistant.answering.trace import Trace
from assistant.models import Conversation, Message
from assistant.routing.router import TrainingSetError, get_intent_router
from assistant.routing.tenant_router import RouteChoice, route_choice, route_gated, tenant_router
from config.engines import get_embedder
from governance.access import Principal
from retrieval.intent import IntentModelError, Route

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


@dataclass(frozen=True, slots=True)
class Retrieved:
    """What a search found (with the answerability check's signals) and the evidence kept from it."""

    results: SearchResults
    evidence: list[Evidence]


def answer_stream(*, principal: Principal, question: Message) -> Iterator[AnswerEvent]:
    """Answer ``question`` (once: a second call replays the stored answer), streaming the LLM's text.

    The last event is always ``done`` with the stored assistant message."""
    existing = Message.objects.filter(reply_to=question).first()
    if existing is not None:
        yield AnswerEvent("done", existing.text, existing)
        return
    trace = Trace()
    config = llm_config_for(principal.tenant)
    choice = _route(principal.tenant_id, question.text, trace)
    choice, found = _relevant(principal, question.text, choice, trace)
    probe = cache.cache_probe(
        principal=principal, question=question, route=choice.route, timings=trace.timings
    )
    if probe is not None and probe.hit is not None:
        message = cache.cache_answer(question=question, probe=probe, started=trace.started)
        yield AnswerEvent("done", message.text, message)
        return
    draft: Draft | None = None
    for step in _reply(principal, question.text, choice, config, trace, found):
        if isinstance(step, Token):
            yield AnswerEvent("token", step.text)
        elif isinstance(step, EvidenceShown):
            yield AnswerEvent("sources", evidence=tuple(step.evidence))
        else:
            draft = step
    if draft is None:  # pragma: no cover - _reply always ends with a draft
        raise RuntimeError("answering produced no answer")
    trace.finish()
    message = answer_store(principal=principal, question=question, draft=draft, config=config, choice=choice)
    if probe is not None and draft.complete:  # an answer cut at the length limit is not reused
        cache.cache_keep(probe=probe, message=message)
    yield AnswerEvent("done", message.text, message)


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
    return answer_of(answer_stream(principal=principal, question=asked))


def answer_of(events: Iterator[AnswerEvent]) -> Message:
    """The stored message an answer stream ends with, the stream drained (the JSON paths)."""
    message = None
    for event in events:
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


def _route(tenant_id: int, text: str, trace: Trace) -> RouteChoice:
    """Step 1. Where the message goes: ``question`` (the documents and, if needed, the LLM),
    ``search``, ``smalltalk``, ``out_of_scope``, ``abuse`` or one of the tenant's own intents, by the
    tenant's active router or else the default one. With routing off, or no router to be had, every
    message is a question."""
    if not settings.TESSERA["INTENT_ROUTING"]:
        return RouteChoice("question")
    with trace.step("route"):
        try:
            router = tenant_router(tenant_id) or get_intent_router()
            routed = router.route(text)
        except (IntentModelError, TrainingSetError, OSError):
            logger.exception("intent routing failed tenant=%s: answering as a question", tenant_id)
            routed = Route("question", 1.0)
    label = route_gated(routed, text)
    if label != routed.label:
        logger.info("tenant=%s %s unsure p=%.3f: a question", tenant_id, routed.label, routed.confidence)
        return RouteChoice(label, routed_from=routed.label, confidence=routed.confidence)
    return route_choice(tenant_id, label, routed.confidence)


def _relevant(
    principal: Principal, text: str, choice: RouteChoice, trace: Trace
) -> tuple[RouteChoice, Retrieved | None]:
    """Step 1, continued. Knowledge-base relevance: a message the router sends away from the
    documents (out of scope, small talk, abuse) is still a question when the principal's documents
    answer it (the answerability check says so on what the search finds): "Who won the Super Bowl?"
    is out of scope for most companies, not for a sports league. The route then becomes ``question``
    and what was found is passed on, not searched again. A message that gives the assistant orders
    (an injection attempt) is never overruled: it stays refused whatever the documents say."""
    if choice.route not in OVERRULED_BY_THE_DOCUMENTS or not settings.TESSERA["ANSWERABILITY"]:
        return choice, None
    if choice.route == "abuse" and gives_orders_to_the_assistant(text):
        return choice, None
    if choice.route == "smalltalk" and choice.confidence >= SURE_OF_SMALLTALK:
        return choice, None
    with trace.step("kb_check"):
        found = _retrieve(principal, text, trace, signals=True)
        verdict = (
            answerability_verdict(found.results, found.evidence, relevance=True) if found.evidence else None
        )
    if verdict is None or verdict.abstain:
        return choice, None
    logger.info("%s message answered from the documents p=%.3f", choice.route, verdict.probability)
    return RouteChoice("question", routed_from=choice.route), found


def _reply(
    principal: Principal,
    text: str,
    choice: RouteChoice,
    config: LlmConfig,
    trace: Trace,
    found: Retrieved | None = None,
) -> Iterator[Token | EvidenceShown | Draft]:
    """Steps 3 to 5 for the route chosen: the reply as a :class:`Draft` (last); an LLM's answer is
    streamed first as :class:`Token` s. ``found``: a question's search, already made by step 1."""
    timings = trace.timings
    if choice.reply:
        yield generate.reply_draft(choice.reply, timings)
    elif choice.route in generate.ROUTE_REPLIES:
        yield generate.route_draft(choice.route, timings)
    elif choice.route == "search":
        searched = _retrieve(principal, text, trace, SEARCH_BUDGET)
        yield generate.search_draft(searched.evidence, timings)
    elif not (
        found := found or _retrieve(principal, text, trace, within=choice.access_group_id, signals=True)
    ).evidence:
        yield generate.not_found_draft([], **timings)
    elif reason := evidence_unanswerable(found.results, found.evidence, timings):  # step 4: no LLM call
        abstained = generate.not_found_draft(found.evidence, **timings)
        abstained.fallback_reason = reason
        yield abstained
    else:
        yield from _generate(principal, text, found.evidence, config, timings)


def _retrieve(
    principal: Principal,
    question: str,
    trace: Trace,
    budget: EvidenceBudget | None = None,
    *,
    within: int | None = None,
    signals: bool = False,
) -> Retrieved:
    """Step 3. The best passages for ``question`` the principal may see (``within``: of that access
    group's documents only, as a tenant intent asks), and the evidence composed from them;
    ``signals`` also gathers what the answerability check needs (when the check is on)."""
    budget = budget or EvidenceBudget()
    with trace.step("retrieve"):
        results = search(
            principal=principal,
            query=question,
            k=SEARCH_DOCUMENTS,
            passages_per_document=budget.searched,
            access_group_id=within,
            signals=signals and settings.TESSERA["ANSWERABILITY"],
        )
    if not results.documents or results.query_vector is None:
        return Retrieved(results, [])
    with trace.step("compress"):
        evidence = select_evidence(
            results.query_vector, results.documents, embedder=get_embedder(), budget=budget, question=question
        )
    return Retrieved(results, evidence)


def _generate(
    principal: Principal,
    question: str,
    evidence: list[Evidence],
    config: LlmConfig,
    timings: dict[str, float],
) -> Iterator[Token | EvidenceShown | Draft]:
    """Step 5: the LLM's answer when the tenant's policy allows one, else the extractive answer."""
    if config.provider == Provider.EXTRACTIVE:
        yield generate.extractive_draft(evidence, "this workspace answers without a language model", timings)
        return
    if budget_spent(principal.tenant):
        yield generate.extractive_draft(evidence, "this month's language-model budget is spent", timings)
        return
    try:
        model = chat_model_for(config, models_dir=Path(settings.TESSERA["MODELS_DIR"]))
    except LlmUnavailable as exc:
        yield generate.extractive_draft(evidence, f"the language model is not configured: {exc}", timings)
        return
    yield EvidenceShown(evidence)
    yield from generate.generate(
        question,
        evidence,
        model=model,
        breaker=breaker_for(config),
        embedder=get_embedder(),
        timings=timings,
        timeout_s=config.timeout_s,
    )
