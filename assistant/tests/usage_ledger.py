"""Ledger rows (a question and its answer) at chosen dates, for the usage dashboard's tests."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from assistant.models import AnswerKind, Conversation, Feedback, Message, Role

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.get_fixed_timezone(0))


def ledger_row(
    tenant, question="q", *, at=NOW, route="question", kind=AnswerKind.ANSWERED, llm=False, **fields
):
    """A question and its answer (the ledger row), dated ``at``."""
    conversation = Conversation.objects.create(tenant=tenant, title="t")
    asked = Message.objects.create(tenant=tenant, conversation=conversation, role=Role.USER, text=question)
    answer = Message.objects.create(
        tenant=tenant,
        conversation=conversation,
        role=Role.ASSISTANT,
        reply_to=asked,
        text="a",
        route=route,
        kind=kind,
        llm_called=llm,
        **fields,
    )
    Message.objects.filter(pk__in=(asked.pk, answer.pk)).update(created_at=at)
    answer.refresh_from_db()
    return answer


def feedback_row(answer, user, rating, comment="", *, at=NOW):
    """A user's verdict on ``answer``, given (or last changed) at ``at``."""
    row = Feedback.objects.create(
        tenant=answer.tenant, message=answer, user=user, rating=rating, comment=comment
    )
    Feedback.objects.filter(pk=row.pk).update(created_at=at, updated_at=at)
    return row
