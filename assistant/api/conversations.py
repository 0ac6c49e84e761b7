"""The caller's conversations, their messages, feedback on answers, and the tenant's usage, over the
REST API (mounted under /api/v1/). Each view parses its input, calls one service or selector and
shapes the output with the serializers below, which are also the schema."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.db.models import Count, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.answering import questions
from assistant.api.ask import CitationSerializer, citations_json
from assistant.chat import selectors
from assistant.chat import services as chat_services
from assistant.models import Conversation, Feedback, Message, Rating
from assistant.usage import selectors as usage_selectors
from config.api import principal_of


def _id_in_path(name: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH)


class ConversationOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    created = serializers.DateTimeField(source="created_at")
    updated = serializers.DateTimeField(source="updated_at")
    messages = serializers.IntegerField(source="message_count", help_text="Questions and answers in it.")

    class Meta:
        ref_name = "Conversation"


# What the services accept, in the schema too, so that a schema-valid request is never refused:
# no NUL character (no database stores it) and, for a title, something besides white space. White
# space is kept here: the services collapse it, and a length limit must mean the length sent.
# (An empty comment is allowed before validators run: drf-spectacular adds it as the other ``oneOf``.)
NO_NUL = RegexValidator(r"^[^\x00]+$", "NUL characters are not allowed.", code="null_characters")
NOT_BLANK = RegexValidator(r"^[^\x00]*[^\x00\s][^\x00]*$", "Give a title.", code="blank")


class ConversationRename(serializers.Serializer[Any]):
    title = serializers.CharField(
        required=False,
        trim_whitespace=False,
        max_length=chat_services.MAX_TITLE_CHARS,
        validators=[NOT_BLANK],
        help_text="The new title (white space collapsed); without it, nothing changes.",
    )


class FeedbackOut(serializers.Serializer[Any]):
    message = serializers.IntegerField(source="message_id", help_text="The answer rated.")
    rating = serializers.ChoiceField(choices=Rating.choices)
    comment = serializers.CharField(allow_blank=True)
    created = serializers.DateTimeField(source="created_at")
    updated = serializers.DateTimeField(source="updated_at")

    class Meta:
        ref_name = "Feedback"


class FeedbackIn(serializers.Serializer[Any]):
    rating = serializers.ChoiceField(choices=Rating.choices)
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=chat_services.MAX_COMMENT_CHARS,
        validators=[NO_NUL],
    )

    class Meta:
        ref_name = "FeedbackInput"


class MessageOut(serializers.Serializer[Any]):
    """A turn: a question (role ``user``) or an answer (role ``assistant``, with its ledger)."""

    id = serializers.IntegerField()
    role = serializers.CharField(help_text="user or assistant")
    text = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(allow_blank=True, help_text="How an answer was given; empty for a question.")
    route = serializers.CharField(
        allow_blank=True, help_text="The route an answer took; empty for a question."
    )
    llm_called = serializers.BooleanField()
    created = serializers.DateTimeField(source="created_at")
    reply_to = serializers.IntegerField(
        source="reply_to_id", allow_null=True, help_text="The question answered."
    )
    citations = serializers.SerializerMethodField()
    feedback = serializers.SerializerMethodField(
        help_text="The caller's own feedback on this answer, if any."
    )

    @extend_schema_field(CitationSerializer(many=True))
    def get_citations(self, message: Message) -> list[dict[str, Any]]:
        return citations_json(message)

    @extend_schema_field(FeedbackOut(allow_null=True))
    def get_feedback(self, message: Message) -> dict[str, Any] | None:
        given: Feedback | None = self.context["feedback"].get(message.pk)
        return None if given is None else dict(FeedbackOut(given).data)

    class Meta:
        ref_name = "ConversationMessage"


def _counted(conversation: Conversation) -> dict[str, Any]:
    return dict(
        ConversationOut(
            {
                "id": conversation.pk,
                "title": conversation.title,
                "created_at": conversation.created_at,
                "updated_at": conversation.updated_at,
                "message_count": conversation.messages.count(),
            }
        ).data
    )


class ConversationListApi(generics.ListAPIView[Conversation]):
    """The caller's own conversations (a signed-in user's, or this API key's), newest first."""

    required_scope = "ask"
    serializer_class = ConversationOut

    def get_queryset(self) -> QuerySet[Conversation]:
        mine = questions.conversations_of(principal_of(self.request))
        return mine.annotate(message_count=Count("messages")).order_by("-updated_at", "-id")


@extend_schema(parameters=[_id_in_path("conversation_id")])
class ConversationApi(APIView):
    """One of the caller's conversations: read, rename, delete (another's, or none: 404)."""

    required_scope = "ask"

    @extend_schema(responses=ConversationOut)
    def get(self, request: Request, conversation_id: int) -> Response:
        found = questions.conversation_get(principal=principal_of(request), conversation_id=conversation_id)
        return Response(_counted(found))

    @extend_schema(request=ConversationRename, responses=ConversationOut)
    def patch(self, request: Request, conversation_id: int) -> Response:
        data = ConversationRename(data=request.data)
        data.is_valid(raise_exception=True)
        principal = principal_of(request)
        if "title" not in data.validated_data:  # nothing to change (PATCH semantics)
            found = questions.conversation_get(principal=principal, conversation_id=conversation_id)
            return Response(_counted(found))
        renamed = chat_services.conversation_rename(
            principal=principal, conversation_id=conversation_id, title=data.validated_data["title"]
        )
        return Response(_counted(renamed))

    @extend_schema(responses={status.HTTP_204_NO_CONTENT: None})
    def delete(self, request: Request, conversation_id: int) -> Response:
        chat_services.conversation_delete(principal=principal_of(request), conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[_id_in_path("conversation_id")])
class MessageListApi(generics.ListAPIView[Message]):
    """The turns of one of the caller's conversations, oldest first, each answer with its
    citations and the caller's feedback on it."""

    required_scope = "ask"
    serializer_class = MessageOut

    def get_queryset(self) -> QuerySet[Message]:
        conversation = questions.conversation_get(
            principal=principal_of(self.request), conversation_id=self.kwargs["conversation_id"]
        )
        return conversation.messages.prefetch_related("citations").order_by("created_at", "id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        feedback = selectors.feedback_by_message(
            principal=principal_of(request), message_ids=[message.pk for message in page]
        )
        return self.get_paginated_response(MessageOut(page, many=True, context={"feedback": feedback}).data)


@extend_schema(parameters=[_id_in_path("message_id")])
class FeedbackApi(APIView):
    """Rate one of the answers in the caller's own conversations. Always 200 with the stored
    feedback: the first verdict creates it, a later one replaces it (one per caller and answer)."""

    required_scope = "ask"

    @extend_schema(request=FeedbackIn, responses=FeedbackOut)
    def post(self, request: Request, message_id: int) -> Response:
        principal = principal_of(request)
        # Another's (or no) answer is a 404 whatever the body says: its existence is not revealed.
        chat_services.answer_get(principal=principal, message_id=message_id)
        data = FeedbackIn(data=request.data)
        data.is_valid(raise_exception=True)
        given = chat_services.feedback_record(
            principal=principal,
            message_id=message_id,
            rating=data.validated_data["rating"],
            comment=data.validated_data["comment"],
        )
        return Response(FeedbackOut(given).data)


class UsageQuery(serializers.Serializer[Any]):
    days = serializers.IntegerField(
        min_value=1,
        max_value=366,
        default=usage_selectors.DEFAULT_RANGE,
        help_text="Calendar days, today included.",
    )


class RouteUsageOut(serializers.Serializer[Any]):
    route = serializers.CharField()
    answers = serializers.IntegerField()
    without_llm = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField(), help_text="Answers by kind.")

    class Meta:
        ref_name = "RouteUsage"


class UsageTotalsOut(serializers.Serializer[Any]):
    """``assistant.usage.ledger.Usage``: the figures ``manage.py usage`` prints."""

    answers = serializers.IntegerField(help_text="Questions answered (each answer is one ledger row).")
    without_llm = serializers.IntegerField()
    share_without_llm = serializers.FloatField(allow_null=True, help_text="None without answers.")
    llm_calls = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField()
    tokens_saved_estimate = serializers.IntegerField(
        allow_null=True, help_text="None before the first LLM call."
    )
    cost_saved_estimate_usd = serializers.FloatField(
        allow_null=True, help_text="None before the first LLM call."
    )
    cache_hits = serializers.IntegerField()
    cache_tokens_saved = serializers.IntegerField()
    cache_cost_saved_usd = serializers.FloatField()
    routes = RouteUsageOut(many=True)

    class Meta:
        ref_name = "UsageTotals"


class DayUsageOut(serializers.Serializer[Any]):
    day = serializers.DateField()
    answers = serializers.IntegerField()
    without_llm = serializers.IntegerField()
    llm_calls = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField()
    cache_hits = serializers.IntegerField()

    class Meta:
        ref_name = "DayUsage"


class StageLatencyOut(serializers.Serializer[Any]):
    stage = serializers.CharField()
    samples = serializers.IntegerField()
    p50_ms = serializers.FloatField()
    p95_ms = serializers.FloatField()

    class Meta:
        ref_name = "StageLatency"


class KnowledgeGapOut(serializers.Serializer[Any]):
    question = serializers.CharField(
        help_text="The latest wording of a question the documents did not answer."
    )
    count = serializers.IntegerField()
    last_asked = serializers.DateTimeField()
    wordings = serializers.IntegerField()

    class Meta:
        ref_name = "KnowledgeGap"


class FeedbackSummaryOut(serializers.Serializer[Any]):
    up = serializers.IntegerField()
    down = serializers.IntegerField()

    class Meta:
        ref_name = "FeedbackSummary"


class UsageOut(serializers.Serializer[Any]):
    days = serializers.IntegerField()
    since = serializers.DateTimeField(help_text="Midnight of the first day of the window.")
    totals = UsageTotalsOut()
    by_day = DayUsageOut(many=True)
    latency = StageLatencyOut(many=True, help_text="p50 and p95 per pipeline stage.")
    gaps = KnowledgeGapOut(many=True)
    feedback = FeedbackSummaryOut(help_text="Thumbs up and down given or changed in the window.")

    class Meta:
        ref_name = "TenantUsage"


class UsageApi(APIView):
    """The tenant's usage over its last ``days`` calendar days: the figures of the usage dashboard
    and ``manage.py usage`` (tenant admins and admin-scoped keys only)."""

    required_scope = "admin"

    @extend_schema(parameters=[UsageQuery], responses=UsageOut)
    def get(self, request: Request) -> Response:
        query = UsageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        dashboard = usage_selectors.usage_dashboard(
            principal_of(request).tenant, days=query.validated_data["days"]
        )
        return Response(UsageOut(dashboard).data)
