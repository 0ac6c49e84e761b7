"""Chat pages: ask, watch the answer stream in (Server-Sent Events), read it with its sources,
open a cited passage, rate an answer, rename or delete a conversation."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.contrib import messages
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from assistant.answering import pipeline, questions
from assistant.answering.rate_limits import AskRateLimited
from assistant.chat import selectors, services, sse
from assistant.models import Conversation, Message, Role
from governance.decorators import member_required
from governance.middleware import TenantHttpRequest

logger = logging.getLogger(__name__)


@member_required
@require_GET
def home(request: TenantHttpRequest) -> HttpResponse:
    """The employee's chat: their conversations, and the open one (``?c=id``) with its turns."""
    conversation = _conversation(request, request.GET.get("c", ""))
    return render(request, "assistant/home.html", _chat(request, conversation))


@member_required
@require_POST
def ask(request: TenantHttpRequest) -> HttpResponse:
    """Store the question; htmx gets the turn that streams its answer, a plain form the page."""
    principal = request.principal
    conversation = _conversation(request, request.POST.get("conversation", ""))
    try:
        question = questions.question_ask(
            principal=principal, question=request.POST.get("question", ""), conversation=conversation
        )
    except AskRateLimited as refused:
        return _ask_refused(request, refused, conversation)
    if request.htmx:  # the turn, and the conversation list (a new conversation joins it)
        context = {"question": question, "conversations": questions.conversations_of(principal)[:50]}
        return render(request, "assistant/partials/turn.html", context)
    pipeline.answer_of(pipeline.answer_stream(principal=principal, question=question))  # no JavaScript
    return redirect(f"{reverse('home')}?c={question.conversation_id}")


@member_required
@require_GET
def answer_stream(request: TenantHttpRequest, question_id: int) -> StreamingHttpResponse:
    """The answer to one of the user's questions as Server-Sent Events: ``token`` events carry
    escaped text to append, the last one (``done``) the rendered answer with its sources."""
    question = questions.question_get(principal=request.principal, message_id=question_id)
    events = pipeline.answer_stream(principal=request.principal, question=question)
    return sse.stream_response(_sse(request, events))


@member_required
@require_GET
def passage(request: TenantHttpRequest, citation_id: int) -> HttpResponse:
    """The passage a citation marker points at, its cited span highlighted (htmx: the side panel)."""
    found = selectors.passage_get(principal=request.principal, citation_id=citation_id)
    template = "assistant/partials/passage.html" if request.htmx else "assistant/passage.html"
    return render(request, template, {"passage": found, "in_panel": bool(request.htmx)})


@member_required
@require_POST
def feedback(request: TenantHttpRequest, message_id: int) -> HttpResponse:
    """Thumbs up or down on an answer, with an optional comment (a second one replaces the first)."""
    given = services.feedback_record(
        principal=request.principal,
        message_id=message_id,
        rating=request.POST.get("rating", ""),
        comment=request.POST.get("comment", ""),
    )
    if request.htmx:
        context = {"message": given.message, "feedback": given, "saved": True}
        return render(request, "assistant/partials/feedback.html", context)
    messages.success(request, "Thank you: your feedback is saved.")
    return redirect(f"{reverse('home')}?c={given.message.conversation_id}#answer-{given.message.reply_to_id}")


@member_required
@require_POST
def conversation_rename(request: TenantHttpRequest, conversation_id: int) -> HttpResponse:
    """Rename one of the user's conversations, then show it."""
    renamed = services.conversation_rename(
        principal=request.principal, conversation_id=conversation_id, title=request.POST.get("title", "")
    )
    messages.success(request, "Conversation renamed.")
    return redirect(f"{reverse('home')}?c={renamed.pk}")


@member_required
@require_http_methods(["GET", "POST"])
def conversation_delete(request: TenantHttpRequest, conversation_id: int) -> HttpResponse:
    """GET: ask for confirmation; POST: delete one of the user's conversations."""
    if request.method == "POST":
        services.conversation_delete(principal=request.principal, conversation_id=conversation_id)
        messages.success(request, "Conversation deleted.")
        return redirect("home")
    found = questions.conversation_get(principal=request.principal, conversation_id=conversation_id)
    return render(request, "assistant/conversation_delete.html", {"conversation": found})


def _chat(request: TenantHttpRequest, conversation: Conversation | None) -> dict[str, object]:
    """The chat page's context: the user's conversations, and the open one with its turns."""
    principal = request.principal
    turns = (
        list(conversation.messages.prefetch_related("citations").order_by("created_at", "id"))
        if conversation
        else []
    )
    answers = [m.pk for m in turns if m.role == Role.ASSISTANT]
    return {
        "conversations": questions.conversations_of(principal)[:50],
        "conversation": conversation,
        "turns": turns,
        "feedback": selectors.feedback_by_message(principal=principal, message_ids=answers),
    }


def _ask_refused(
    request: TenantHttpRequest, refused: AskRateLimited, conversation: Conversation | None
) -> HttpResponse:
    """Asking too fast: a 429 with ``Retry-After`` whose message takes the answer's place in the
    chat (htmx: the turn, which chat.js swaps in; without JavaScript: the chat page with it)."""
    context: dict[str, object]
    if request.htmx:
        template, context = "assistant/partials/rate_limited.html", {"refused": refused}
    else:
        template, context = "assistant/home.html", {**_chat(request, conversation), "refused": refused}
    response = render(request, template, context, status=refused.status)
    response["Retry-After"] = str(refused.retry_after)
    return response


def _conversation(request: TenantHttpRequest, raw_id: str) -> Conversation | None:
    """The user's conversation named by ``raw_id`` (none if empty or not a number; 404 if not theirs)."""
    if not raw_id.isdigit():
        return None
    return questions.conversation_get(principal=request.principal, conversation_id=int(raw_id))


def _sse(request: TenantHttpRequest, events: Iterator[pipeline.AnswerEvent]) -> Iterator[str]:
    try:
        for event in events:
            if event.kind == "token":
                yield _event("token", str(escape(event.text)))
            elif event.kind == "sources":  # shown while the model reads them; "done" replaces them
                html = render_to_string("assistant/partials/sources_read.html", {"evidence": event.evidence})
                yield _event("sources", html)
            elif event.message is not None:
                yield _event("done", _answer_html(request, event.message))
    except Exception:  # the stream has begun (200 sent): end it with a message, never a dropped line
        logger.exception("answer stream failed tenant=%s", request.principal.tenant_id)
        yield _event("done", render_to_string("assistant/partials/answer_failed.html", request=request))


def _answer_html(request: TenantHttpRequest, message: Message) -> str:
    return render_to_string("assistant/partials/answer.html", {"message": message}, request=request)


def _event(name: str, data: str) -> str:
    return sse.event(data, name=name)
