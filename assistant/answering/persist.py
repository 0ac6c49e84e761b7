"""The last step: the answer stored with its citations (document version, chunk and the spans the
answer used), its route, whether the LLM was called, tokens, cost and each step's time, and its audit
row, in one transaction."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from assistant.answering.compose import Evidence
from assistant.answering.generate import Draft
from assistant.answering.llm.client import LlmConfig, estimated_cost
from assistant.answering.verify import cited_spans
from assistant.models import AnswerKind, Citation, Message, Role
from assistant.routing.tenant_router import RouteChoice
from governance.access import Principal
from governance.services import Actor, audit_record


def answer_store(
    *, principal: Principal, question: Message, draft: Draft, config: LlmConfig, choice: RouteChoice
) -> Message:
    """Store ``draft`` as the reply to ``question`` (once: a reply stored meanwhile by another request,
    a reconnecting stream, is the one kept and returned)."""
    try:
        return _store_once(principal, question, draft, config, choice)
    except IntegrityError:
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
