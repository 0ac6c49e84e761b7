"""The permission-aware answer cache through the chat service: a repeated question reuses the LLM's
grounded answer (ledger: no LLM call, citations copied) only within the same permission scope and
tenant, and never once a cited document has changed."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from assistant.answering import cache
from assistant.answering import pipeline as services
from assistant.answering.cache_vectors import forget_scopes, scope_vectors
from assistant.models import AnswerCacheEntry, AnswerKind, AssistantSettings, Conversation, Message
from assistant.models import Role as MessageRole
from assistant.tests.fakes import DownChatModel, scripted
from governance.access import principal_for_membership
from governance.models import AuditEvent, Role
from governance.services import Actor, api_key_create
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory
from ingest import pipeline
from ingest import services as ingest_services
from ingest.models import Chunk, Document
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = pytest.mark.django_db

QUESTION = "How long is paid parental leave?"
REPLY = "Sixteen weeks [1]. Employees get sixteen weeks of paid parental leave [1]."
CAFETERIA = b"# Cafeteria\n\nThe cafeteria opens at eight and serves lunch until two."


@pytest.fixture(autouse=True)
def answer_cache_on(settings):
    """The site default (the test settings turn the cache off for every other test); no scope's
    vectors held in memory from another test (ids repeat across tests, rolled back)."""
    settings.TESSERA = {**settings.TESSERA, "ANSWER_CACHE": True}
    forget_scopes()
    yield
    forget_scopes()


@pytest.fixture
def tenant():
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    ingest_now(tenant, "cafeteria.md", CAFETERIA)
    return tenant


def _member(tenant, *groups, role=Role.MEMBER):
    membership = MembershipFactory(tenant=tenant, role=role)
    membership.access_groups.add(*groups)
    return principal_for_membership(membership)


@pytest.fixture
def llm(use_llm):
    """The same grounded reply to every question (a later LLM call shows in the ledger)."""
    return use_llm(scripted(*[REPLY] * 20))


def _ask(principal, question=QUESTION):
    asked = services.question_ask(principal=principal, question=question)
    return list(services.answer_stream(principal=principal, question=asked))[-1].message


def _handbook(tenant):
    return Document.objects.get(tenant=tenant, original_name="handbook.md")


def test_a_repeated_question_reuses_the_answer_and_its_citations_without_an_llm_call(tenant, llm):
    asker, colleague = _member(tenant), _member(tenant)
    first = _ask(asker)
    assert first.kind == AnswerKind.ANSWERED and first.llm_called and first.cached_from is None
    entry = AnswerCacheEntry.objects.get(tenant=tenant)
    assert entry.message_id == first.pk and entry.normalised_question == "how long is paid parental leave"
    assert list(entry.sources.values_list("document_id", flat=True)) == [_handbook(tenant).pk]
    # the same question (case, spacing and punctuation aside), by a colleague who sees the same documents
    again = _ask(colleague, "  how long is PAID parental leave ")
    assert again.pk != first.pk and again.conversation_id != first.conversation_id
    assert again.kind == AnswerKind.ANSWERED and not again.llm_called and again.cached_from_id == first.pk
    assert (again.prompt_tokens, again.completion_tokens, again.provider) == (0, 0, "")
    assert again.text == first.text and again.sentences == first.sentences
    assert again.route == "question" and "cache" in again.timings_ms and "retrieve" not in again.timings_ms
    copied = list(again.citations.values_list("marker", "chunk_id", "version_id", "document_id", "title"))
    original = list(first.citations.values_list("marker", "chunk_id", "version_id", "document_id", "title"))
    assert copied == original and copied and not set(again.citations.all()) & set(first.citations.all())
    audit = AuditEvent.objects.get(tenant=tenant, action="question.answered", target_id=str(again.pk))
    assert audit.extra["llm_called"] is False and audit.extra["cached_from"] == first.pk
    entry.refresh_from_db()
    assert entry.hits == 1 and entry.last_hit_at is not None
    assert AnswerCacheEntry.objects.count() == 1  # a cached answer is not cached again


def test_a_principal_who_sees_other_documents_never_gets_the_cached_answer(tenant, llm):
    hr, finance = AccessGroupFactory(tenant=tenant, name="hr"), AccessGroupFactory(tenant=tenant, name="fin")
    ingest_services.document_access_groups_set(document=_handbook(tenant), groups=[hr], actor=Actor())
    ingest_now(
        tenant, "budget.md", b"# Budget\n\nThe travel budget is set each January.", access_groups=[finance]
    )
    in_hr, also_in_hr = _member(tenant, hr), _member(tenant, hr)
    outsider, in_finance = _member(tenant), _member(tenant, finance)
    admin = _member(tenant, role=Role.ADMIN)
    first = _ask(in_hr)
    assert first.llm_called and first.citations.filter(document=_handbook(tenant)).exists()
    assert not _ask(also_in_hr).llm_called  # the same visible set shares the entry
    for other in (outsider, in_finance, admin):  # a different visible set: a miss, answered afresh
        message = _ask(other)
        assert message.llm_called and message.cached_from is None
    assert Message.objects.filter(cached_from=first).count() == 1


def test_another_tenant_never_hits(tenant, llm):
    _ask(_member(tenant))
    other = TenantFactory()
    ingest_now(other, "handbook.md", HANDBOOK.encode())
    ingest_now(other, "cafeteria.md", CAFETERIA)
    message = _ask(_member(other))
    assert message.llm_called and message.cached_from is None
    assert AnswerCacheEntry.objects.filter(tenant=other).count() == 1


@pytest.mark.parametrize("change", ["new_version", "delete", "access_groups", "reindex"])
def test_a_change_to_a_cited_document_deletes_the_entries_that_cite_it(tenant, llm, change):
    principal = _member(tenant)
    first = _ask(principal)
    entry = AnswerCacheEntry.objects.get(tenant=tenant)
    handbook = _handbook(tenant)
    if change == "new_version":
        version = ingest_services.document_upload(
            tenant=tenant,
            actor=Actor(),
            upload=ingest_services.Upload("handbook.md", HANDBOOK.replace("sixteen", "twenty").encode()),
            document=handbook,
            enqueue=False,
        )
        assert not AnswerCacheEntry.objects.filter(pk=entry.pk).exists()
        pipeline.index_version_or_fail(version.pk)
    elif change == "delete":
        ingest_services.document_delete(document=handbook, actor=Actor())
    elif change == "access_groups":
        group = AccessGroupFactory(tenant=tenant)
        ingest_services.document_access_groups_set(document=handbook, groups=[group], actor=Actor())
        principal = _member(tenant, group)
    else:
        ingest_services.document_reindex(document=handbook, actor=Actor())
        assert not AnswerCacheEntry.objects.filter(pk=entry.pk).exists()
        pipeline.index_version_or_fail(handbook.versions.get().pk)
    assert not AnswerCacheEntry.objects.filter(pk=entry.pk).exists()
    again = _ask(principal)
    assert again.cached_from is None and again.pk != first.pk
    assert again.llm_called or change == "delete"  # no handbook, maybe no evidence at all


def test_an_entry_whose_cited_passage_is_gone_is_never_served(tenant, llm):
    principal = _member(tenant)
    first = _ask(principal)
    entry = AnswerCacheEntry.objects.get(tenant=tenant)
    # as if the chunks were replaced while the answer was being stored, after the invalidation ran
    Chunk.objects.filter(pk__in=first.citations.values("chunk_id")).delete()
    assert _ask(principal).cached_from is None
    assert not AnswerCacheEntry.objects.filter(pk=entry.pk).exists()


def test_a_scopes_vectors_in_memory_follow_every_insert_and_delete():
    tenant = TenantFactory()
    conversation = Conversation.objects.create(tenant=tenant, title="t")
    message = Message.objects.create(
        tenant=tenant, conversation=conversation, role=MessageRole.ASSISTANT, text="a"
    )

    def add(value):
        vector = np.full(4, value, dtype=np.float32).tobytes()
        return AnswerCacheEntry.objects.create(
            tenant=tenant,
            scope_signature="s",
            embedding_model="m",
            question="q",
            vector=vector,
            message=message,
        )

    entries = AnswerCacheEntry.objects.filter(tenant=tenant, scope_signature="s", embedding_model="m")
    key = (tenant.pk, "s", "m")

    def check():
        scope = scope_vectors(entries, key)
        stored = dict(entries.values_list("pk", "vector"))
        assert sorted(scope.ids.tolist()) == sorted(stored)
        for pk, row in zip(scope.ids.tolist(), scope.vectors, strict=True):
            assert row.tobytes() == bytes(stored[pk])
        return scope

    assert check().count == 0
    first = [add(1.0), add(2.0)]
    assert check().count == 2
    add(3.0)  # appended to what is in memory
    assert check().count == 3
    first[0].delete()  # count and highest id disagree: read again
    assert check().count == 2
    first[1].delete()
    add(4.0)  # same count, a higher id
    assert check().count == 2 and check().vectors[-1][0] == 4.0


def test_an_unrelated_upload_changes_the_scope_so_no_stale_answer_is_served(tenant, llm):
    principal = _member(tenant)
    _ask(principal)
    ingest_now(tenant, "parking.md", b"# Parking\n\nParking is free for employees on weekends.")
    assert _ask(principal).llm_called  # a new document could answer better: the old entry is not used
    assert not _ask(principal).llm_called  # ... and the new answer is cached for the new scope


def test_the_signature_is_shared_by_equal_visible_sets_and_differs_otherwise(tenant):
    group = AccessGroupFactory(tenant=tenant)
    a, b = _member(tenant), _member(tenant)
    in_group = _member(tenant, group)
    assert cache.scope_signature(a) == cache.scope_signature(b)
    assert cache.scope_signature(a) == cache.scope_signature(in_group)  # group restricts nothing
    ingest_services.document_access_groups_set(document=_handbook(tenant), groups=[group], actor=Actor())
    assert cache.scope_signature(a) != cache.scope_signature(in_group)
    empty, also_empty = _member(TenantFactory()), _member(TenantFactory())
    assert cache.scope_signature(empty) != cache.scope_signature(also_empty)  # tenant


def test_only_answers_the_llm_wrote_and_grounded_are_kept(tenant, use_llm):
    principal = _member(tenant)
    use_llm(DownChatModel())
    assert _ask(principal).kind == AnswerKind.EXTRACTIVE
    use_llm(scripted("NOT_IN_DOCUMENTS", "NOT_IN_DOCUMENTS"))
    assert _ask(principal, "What is the CEO's favourite colour?").kind == AnswerKind.NOT_FOUND
    assert not AnswerCacheEntry.objects.exists()
    assert _ask(principal, "What is the CEO's favourite colour?").llm_called


def test_a_tenant_can_turn_the_cache_off_or_on_whatever_the_site_default(tenant, llm, settings):
    AssistantSettings.objects.create(tenant=tenant, answer_cache=False)
    principal = _member(tenant)
    _ask(principal)
    assert _ask(principal).llm_called and not AnswerCacheEntry.objects.exists()
    settings.TESSERA = {**settings.TESSERA, "ANSWER_CACHE": False}
    AssistantSettings.objects.filter(tenant=tenant).update(answer_cache=True)
    first = _ask(principal)
    assert first.llm_called and _ask(principal).cached_from == first


class AngleEmbedder:
    """Unit vectors at chosen cosines to QUESTION's (for the threshold), random for anything else."""

    model_id = "angles"
    dimension = 8

    def __init__(self, cosines: dict[str, float]):
        self.cosines = cosines

    def embed_query(self, text: str) -> np.ndarray:
        cosine = 1.0 if text == QUESTION else self.cosines[text]
        return np.array([cosine, np.sqrt(1 - cosine**2)] + [0] * 6, dtype=np.float32)


def test_a_paraphrase_hits_from_the_tenants_threshold_and_not_below(tenant, llm, monkeypatch, settings):
    paraphrase = "For how long is parental leave paid?"
    monkeypatch.setattr(cache, "get_embedder", lambda: AngleEmbedder({paraphrase: 0.93}))
    settings.TESSERA = {**settings.TESSERA, "ANSWER_CACHE_THRESHOLD": 0.9}
    principal = _member(tenant)
    first = _ask(principal)
    assert _ask(principal, paraphrase).cached_from == first  # 0.93 >= the site's 0.9
    AssistantSettings.objects.create(tenant=tenant, answer_cache_threshold=0.94)
    assert _ask(principal, paraphrase).llm_called  # 0.93 < the tenant's 0.94
    AssistantSettings.objects.filter(tenant=tenant).update(answer_cache_threshold=1.0)
    assert _ask(principal, QUESTION.upper()).cached_from == first  # 1.0: the same question only


def test_the_threshold_setting_is_checked():
    tenant = TenantFactory()
    for bad in (0.5, 1.2):
        with pytest.raises(ValidationError, match="answer_cache_threshold"):
            AssistantSettings(tenant=tenant, answer_cache_threshold=bad).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        AssistantSettings.objects.create(tenant=tenant, answer_cache_threshold=0.2)
    AssistantSettings(tenant=tenant, answer_cache_threshold=0.85).full_clean()


def test_the_least_recently_used_entries_go_beyond_the_tenants_limit(tenant, llm, settings):
    settings.TESSERA = {**settings.TESSERA, "ANSWER_CACHE_MAX_ENTRIES": 2}
    principal = _member(tenant)
    first, second, third = (
        QUESTION,
        "Paid parental leave: how long?",
        "How many weeks of paid parental leave?",
    )
    assert _ask(principal, first).llm_called and _ask(principal, second).llm_called
    assert _ask(principal, first).cached_from is not None  # the first is now the most recently used
    assert _ask(principal, third).llm_called
    kept = AnswerCacheEntry.objects.filter(tenant=tenant).values_list("question", flat=True)
    assert sorted(kept) == sorted([first, third])


def test_over_the_api_with_a_real_llm_server_the_second_ask_never_reaches_it(
    openai_server, openai_connection, client, settings
):
    settings.TESSERA = {**settings.TESSERA, "LLM_PRICES": {"served": [1.0, 2.0]}}
    openai_server.reply = REPLY
    tenant = TenantFactory(slug="cached")
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    AssistantSettings.objects.create(tenant=tenant, llm_connection=openai_connection(), llm_model="served")
    _, raw = api_key_create(tenant=tenant, name="bot", scopes=["ask"], actor=Actor())
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    first, again = (
        client.post(reverse("api:ask"), {"question": q}, content_type="application/json").json()
        for q in (QUESTION, "how long is paid parental leave")
    )
    assert len(openai_server.completions) == 1
    assert first["llm_called"] and first["cached_from"] is None and first["usage"]["prompt_tokens"] == 321
    assert (
        not again["llm_called"] and again["cached_from"] == first["id"] and again["answer"] == first["answer"]
    )
    assert again["usage"]["prompt_tokens"] == 0 and again["citations"] == first["citations"]
    out = StringIO()
    call_command("usage", tenant="cached", json=True, stdout=out)
    figures = json.loads(out.getvalue())
    assert (figures["cache_hits"], figures["cache_tokens_saved"]) == (1, 333)
    assert figures["cache_cost_saved_usd"] == pytest.approx((321 * 1.0 + 12 * 2.0) / 1e6)


@pytest.fixture
def real_tenant(real_embedder):
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    ingest_now(tenant, "cafeteria.md", CAFETERIA)
    return tenant


@pytest.mark.slow
def test_with_real_embeddings_paraphrases_hit_and_other_questions_do_not(real_tenant, llm):
    """The packaged embedder at the default threshold (0.95), and the behaviour either side of it."""
    from config.engines import get_embedder

    embedder = get_embedder()
    assert embedder.model_id.endswith("onnx-int8")

    def cosine(a, b):
        return float(np.dot(embedder.embed_query(a), embedder.embed_query(b)))

    principal = _member(real_tenant)
    first = _ask(principal)
    assert first.llm_called and first.kind == AnswerKind.ANSWERED
    assert _ask(principal, "how long is PAID parental leave").cached_from == first  # cosine 0.97 only
    paraphrase = "What is the duration of paid parental leave?"
    near = cosine(QUESTION, paraphrase)
    assert 0.95 <= near < 0.97
    # just above the paraphrase's cosine: a miss (whose own answer is then cached, and dropped here)
    AssistantSettings.objects.create(tenant=real_tenant, answer_cache_threshold=near + 0.005)
    assert _ask(principal, paraphrase).llm_called
    AnswerCacheEntry.objects.exclude(message=first).delete()
    AssistantSettings.objects.filter(tenant=real_tenant).update(answer_cache_threshold=near - 0.005)
    assert _ask(principal, paraphrase).cached_from == first  # just below it: a hit
    AssistantSettings.objects.filter(tenant=real_tenant).update(answer_cache_threshold=None)
    assert _ask(principal, "For how long is parental leave paid?").cached_from == first
    # a different question on the same topic, close in embedding space but below the threshold
    different = "How long is unpaid parental leave?"
    assert 0.9 < cosine(QUESTION, different) < 0.95
    assert _ask(principal, different).llm_called
    # above the threshold, but the numbers differ: the key terms keep them apart
    sixteen, eighteen = "Is paid parental leave 16 weeks long?", "Is paid parental leave 18 weeks long?"
    assert cosine(sixteen, eighteen) > 0.95
    assert _ask(principal, sixteen).llm_called
    assert AnswerCacheEntry.objects.filter(tenant=real_tenant, question=sixteen).exists()
    assert _ask(principal, eighteen).llm_called
