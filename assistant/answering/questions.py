"""A question becomes a stored turn of its principal's conversation (every way in asks through
``question_ask``, which charges the ask rate first); reads of the principal's own conversations."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from assistant.answering.rate_limits import ask_rate_charge
from assistant.models import Conversation, Message, Role
from config.errors import ApplicationError, NotFound
from governance.access import Principal

MAX_QUESTION_CHARS = 2000


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
