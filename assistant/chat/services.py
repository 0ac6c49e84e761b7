"""An employee's own conversations and their verdicts on answers: rename, delete, feedback.

Each change is one transaction with its audit row; another principal's conversation or answer is
"not found" (404), whatever its tenant."""

from __future__ import annotations

from django.db import transaction

from assistant.answering.questions import conversation_get, conversations_of
from assistant.models import Conversation, Feedback, Message, Rating, Role
from config.errors import ApplicationError, NotFound
from governance.access import Principal
from governance.services import Actor, audit_record

MAX_TITLE_CHARS = 200
MAX_COMMENT_CHARS = 2000


def conversation_rename(*, principal: Principal, conversation_id: int, title: str) -> Conversation:
    """Give one of the principal's conversations a new title (white space collapsed)."""
    title = " ".join(title.split())
    with transaction.atomic():
        # looked up first: another principal's conversation is "not found", whatever the input
        conversation = conversation_get(principal=principal, conversation_id=conversation_id)
        if not title:
            raise ApplicationError("A conversation needs a title.", code="empty_title")
        if len(title) > MAX_TITLE_CHARS:
            raise ApplicationError(
                f"Titles are limited to {MAX_TITLE_CHARS} characters.", code="title_too_long"
            )
        conversation.title = title
        conversation.save(update_fields=["title", "updated_at"])
        audit_record(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            action="conversation.renamed",
            target=conversation,
        )
    return conversation


def conversation_delete(*, principal: Principal, conversation_id: int) -> None:
    """Delete one of the principal's conversations with its messages, citations and feedback."""
    with transaction.atomic():
        conversation = conversation_get(principal=principal, conversation_id=conversation_id)
        audit_record(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            action="conversation.deleted",
            target=conversation,
            extra={"messages": conversation.messages.count()},
        )
        conversation.delete()


def feedback_record(*, principal: Principal, message_id: int, rating: str, comment: str = "") -> Feedback:
    """The principal's thumbs up or down (with an optional comment) on one of the answers in its
    own conversations; a second verdict on the same answer replaces the first."""
    comment = comment.strip()
    owner: dict[str, object] = (
        {"user_id": principal.user_id}
        if principal.user_id is not None
        else {"user__isnull": True, "api_key_id": principal.api_key_id}
    )
    with transaction.atomic():
        message = answer_get(principal=principal, message_id=message_id)  # first: another's is a 404
        _check_feedback(rating, comment)
        feedback, created = Feedback.objects.select_for_update().update_or_create(
            tenant_id=principal.tenant_id,
            message=message,
            **owner,
            defaults={"rating": rating, "comment": comment},
            create_defaults={
                "rating": rating,
                "comment": comment,
                "user_id": principal.user_id,
                "api_key_id": principal.api_key_id if principal.user_id is None else None,
            },
        )
        audit_record(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            action="feedback.given" if created else "feedback.changed",
            target=message,
            extra={"rating": rating, "comment": bool(comment)},
        )
    return feedback


def _check_feedback(rating: str, comment: str) -> None:
    if rating not in Rating.values:
        raise ApplicationError("Rate the answer up or down.", code="invalid_rating")
    if len(comment) > MAX_COMMENT_CHARS:
        raise ApplicationError(
            f"Comments are limited to {MAX_COMMENT_CHARS} characters.", code="comment_too_long"
        )


def answer_get(*, principal: Principal, message_id: int) -> Message:
    """An assistant message in one of the principal's own conversations (anything else: 404)."""
    found = Message.objects.filter(
        tenant_id=principal.tenant_id,
        pk=message_id,
        role=Role.ASSISTANT,
        conversation__in=conversations_of(principal),
    ).first()
    if found is None:
        raise NotFound("No such answer.")
    return found
