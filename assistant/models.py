"""Conversations, answers with their ledger (route, LLM use, tokens, cost, latency) and citations,
each tenant's answering policy (which LLM, how patient, what budget), and each tenant's own intent
routing (its intents, labelled examples and trained router versions)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from governance.models import AccessGroup, ApiKey, TenantOwned
from ingest.models import Chunk, Document, DocumentVersion

# A cache threshold below this would hand one question's answer to a different one.
MIN_CACHE_THRESHOLD = 0.85


class AssistantSettings(TenantOwned):
    """A tenant's answering policy; empty fields fall back to the site defaults (TESSERA_LLM_*).

    The LLM is one of the operator's connections, chosen by name (``assistant.answering.llm.connections``): a
    tenant never names a server or a server variable. Its own API key, for a connection where tenants
    bring theirs, is stored encrypted (``config.encryption``) and never shown again."""

    llm_connection = models.CharField(
        max_length=32,
        blank=True,
        help_text="The operator's LLM connection, by name; empty: the site default.",
    )
    llm_model = models.CharField(max_length=200, blank=True)
    llm_api_key_encrypted = models.TextField(blank=True, editable=False)
    llm_api_key_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    llm_timeout_s = models.FloatField(null=True, blank=True)
    monthly_token_budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="LLM tokens (prompt + completion) per calendar month; empty: no limit.",
    )
    answer_cache = models.BooleanField(
        null=True,
        blank=True,
        help_text="Reuse the answer of a question close enough to one already answered, within the "
        "same permission scope; empty: the site default (TESSERA_ANSWER_CACHE).",
    )
    answer_cache_threshold = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_CACHE_THRESHOLD), MaxValueValidator(1.0)],
        help_text="Cosine similarity of two questions' embeddings from which the cached answer is "
        "reused (1.0: identical questions only); empty: TESSERA_ANSWER_CACHE_THRESHOLD.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("tenant",), name="assistant_settings_one_per_tenant"),
            models.CheckConstraint(
                condition=models.Q(answer_cache_threshold__isnull=True)
                | models.Q(answer_cache_threshold__gte=MIN_CACHE_THRESHOLD, answer_cache_threshold__lte=1.0),
                name="assistant_settings_cache_threshold_range",
            ),
        ]


class Conversation(TenantOwned):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-updated_at", "-id")
        indexes = [models.Index(fields=("tenant", "user", "-updated_at"))]


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class AnswerKind(models.TextChoices):
    ANSWERED = "answered", "Answered from documents"
    NOT_FOUND = "not_found", "Not in your documents"
    EXTRACTIVE = "extractive", "Extractive answer (no LLM)"
    NO_LLM = "no_llm", "No LLM needed"


class Message(TenantOwned):
    """One turn. An assistant turn carries the ledger of how it was produced."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    reply_to = models.OneToOneField(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="reply"
    )  # an assistant turn answers exactly one user turn, once
    # the ledger (assistant turns)
    kind = models.CharField(max_length=16, choices=AnswerKind.choices, blank=True)
    route = models.CharField(max_length=32, blank=True)
    llm_called = models.BooleanField(default=False)
    provider = models.CharField(max_length=16, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    timings_ms = models.JSONField(default=dict, blank=True)
    fallback_reason = models.CharField(max_length=300, blank=True)
    sentences = models.JSONField(default=list, blank=True)  # [{"text", "markers", "supported"}]
    unsupported_sentences = models.PositiveIntegerField(default=0)
    # the answer this one reuses from the answer cache (its LLM call is the one this answer saved)
    cached_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("created_at", "id")
        indexes = [models.Index(fields=("tenant", "created_at"))]


class Citation(TenantOwned):
    """Marker ``[n]`` of an answer: the chunk (document version, page, heading, span) it points at."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="citations")
    marker = models.PositiveSmallIntegerField()
    chunk = models.ForeignKey(Chunk, on_delete=models.SET_NULL, null=True, related_name="+")
    version = models.ForeignKey(DocumentVersion, on_delete=models.SET_NULL, null=True, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.SET_NULL, null=True, related_name="+")
    title = models.CharField(max_length=300)
    page = models.PositiveIntegerField(null=True, blank=True)
    heading_path = models.JSONField(default=list, blank=True)
    char_start = models.PositiveIntegerField(default=0)
    char_end = models.PositiveIntegerField(default=0)
    # the cited span: [start, end) offsets, within the chunk's text, of the sentences the answer
    # was given from that passage (empty: unknown, for citations stored before spans were kept)
    spans = models.JSONField(default=list, blank=True)
    score = models.FloatField(default=0.0)

    class Meta:
        ordering = ("marker",)
        constraints = [models.UniqueConstraint(fields=("message", "marker"), name="citation_unique_marker")]


class Rating(models.TextChoices):
    UP = "up", "Helpful"
    DOWN = "down", "Not helpful"


class Feedback(TenantOwned):
    """A user's verdict on one answer (thumbs up or down, an optional comment); one per user and
    answer, changed in place when they change their mind."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-updated_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("message", "user"),
                condition=models.Q(user__isnull=False),
                name="feedback_one_per_user",
            ),
            models.UniqueConstraint(
                fields=("message", "api_key"),
                condition=models.Q(user__isnull=True, api_key__isnull=False),
                name="feedback_one_per_api_key",
            ),
        ]
        indexes = [models.Index(fields=("tenant", "-updated_at"), name="feedback_tenant_recent")]


class TenantIntent(TenantOwned):
    """A route of the tenant's own: answered with a fixed reply, or searched in one access group's
    documents only (within what the asker may see anyway). Exactly one of the two is set."""

    name = models.SlugField(max_length=32, help_text="The route's name, as examples and the ledger use it.")
    reply = models.TextField(blank=True, help_text="Answer every message of this intent with this text.")
    access_group = models.ForeignKey(
        AccessGroup,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Search only this group's documents for messages of this intent.",
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(fields=("tenant", "name"), name="tenant_intent_unique_name"),
            models.CheckConstraint(
                condition=(models.Q(reply="") & models.Q(access_group__isnull=False))
                | (~models.Q(reply="") & models.Q(access_group__isnull=True)),
                name="tenant_intent_reply_or_group",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class IntentExample(TenantOwned):
    """A labelled message: ``label`` is a built-in route or the name of one of the tenant's intents."""

    text = models.CharField(max_length=500)
    label = models.CharField(max_length=32)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("label", "id")
        constraints = [models.UniqueConstraint(fields=("tenant", "text"), name="intent_example_unique_text")]

    def __str__(self) -> str:
        return f"{self.label}: {self.text[:40]}"


class IntentModelStatus(models.TextChoices):
    TRAINING = "training", "Training"
    READY = "ready", "Ready (candidate)"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


class IntentModelVersion(TenantOwned):
    """One training of a tenant's router: its out-of-fold evaluation, its file, and its life
    (training -> ready -> active -> retired; or failed, with the reason)."""

    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=IntentModelStatus.choices, default=IntentModelStatus.TRAINING
    )
    accuracy = models.FloatField(null=True, blank=True)
    oos_recall = models.FloatField(null=True, blank=True)
    oos_precision = models.FloatField(null=True, blank=True)
    # {"method", "labels", "confusion" (rows: true label, columns: predicted), metrics...}
    evaluation = models.JSONField(default=dict, blank=True)
    example_counts = models.JSONField(default=dict, blank=True)
    examples = models.JSONField(default=list, blank=True)  # the tenant's [text, label] pairs trained on
    train_seconds = models.FloatField(null=True, blank=True)
    file_path = models.CharField(max_length=300, blank=True, help_text="Relative to MODELS_DIR.")
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    # the version that was active when this one was activated: where a rollback goes back to
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-number",)
        constraints = [
            models.UniqueConstraint(fields=("tenant", "number"), name="intent_model_unique_number"),
            models.UniqueConstraint(
                fields=("tenant",),
                condition=models.Q(status="active"),
                name="intent_model_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"intent model v{self.number} ({self.status})"


class AnswerCacheEntry(TenantOwned):
    """An LLM-written, grounded answer that a close enough question asked within the same permission
    scope may reuse (assistant.answering.cache)."""

    # sha256 of the principal's visible set (each visible document's current version and when it
    # became ready): principals who see the same documents share entries, any other set never does
    scope_signature = models.CharField(max_length=64)
    embedding_model = models.CharField(max_length=100)  # vectors of another model do not compare
    question = models.TextField()  # as asked
    normalised_question = models.TextField()  # the exact-match key (retrieval.question_match.normalise)
    vector = models.BinaryField()  # float32 little-endian, L2-normalised
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    hits = models.PositiveIntegerField(default=0)
    last_hit_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=("tenant", "scope_signature", "embedding_model"), name="answer_cache_scope"),
        ]


class AnswerCacheSource(TenantOwned):
    """A document an entry cites: a change to it deletes the entry."""

    entry = models.ForeignKey(AnswerCacheEntry, on_delete=models.CASCADE, related_name="sources")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("entry", "document"), name="answer_cache_source_unique"),
        ]
        indexes = [models.Index(fields=("tenant", "document"), name="answer_cache_source_document")]
