"""Answer cache timings (docs/benchmarks.md), not part of the suite (the name is not test_*.py):

    pytest -q -s assistant/tests/bench_answer_cache.py

Prints the scope signature's cost against the search's scope on a tenant of 5,000 documents, a hit's
and a miss's lookup time through the chat service with the real embedder, and a miss's against
100 and 2,000 entries of one scope.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from django.utils import timezone

from assistant.answering.cache import cache_probe, scope_signature
from assistant.models import AnswerCacheEntry, Conversation, Message
from assistant.models import Role as MessageRole
from assistant.tests.test_answer_cache import (  # noqa: F401 - fixtures
    QUESTION,
    _ask,
    _member,
    answer_cache_on,
    llm,
    real_tenant,
    tenant,
)
from config.engines import get_embedder
from governance.access import principal_for_membership
from governance.models import Role
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory
from ingest.models import Chunk, Document, DocumentVersion, VersionStatus
from ingest.selectors import visible_chunk_ids

pytestmark = pytest.mark.django_db

DOCUMENTS, CHUNKS_PER_DOCUMENT = 5000, 4


def _ms(run: Callable[[], object], times: int = 30) -> str:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000.0)
    return f"{np.median(samples):.1f} / {np.percentile(samples, 95):.1f} ms"


def test_scope_signature_against_the_search_scope():
    big = TenantFactory()
    group = AccessGroupFactory(tenant=big)
    now = timezone.now()
    documents = Document.objects.bulk_create(
        [Document(tenant=big, title=f"d{i}", original_name=f"d{i}") for i in range(DOCUMENTS)]
    )
    versions = DocumentVersion.objects.bulk_create(
        [
            DocumentVersion(
                tenant=big,
                document=d,
                number=1,
                sha256=f"{i:064d}",
                size_bytes=1,
                status=VersionStatus.READY,
                ready_at=now,
            )
            for i, d in enumerate(documents)
        ]
    )
    for document, version in zip(documents, versions, strict=True):
        document.current_version = version
    Document.objects.bulk_update(documents, ["current_version"], batch_size=1000)
    Chunk.objects.bulk_create(
        [
            Chunk(
                tenant=big,
                version=v,
                ordinal=j,
                text="x" * 800,
                char_start=0,
                char_end=800,
                token_count=200,
                content_hash="h",
            )
            for v in versions
            for j in range(CHUNKS_PER_DOCUMENT)
        ],
        batch_size=2000,
    )
    for document in documents[::3]:
        document.access_groups.add(group)
    for role in (Role.MEMBER, Role.ADMIN):
        principal = principal_for_membership(MembershipFactory(tenant=big, role=role))
        print(
            f"\n{role}: {DOCUMENTS} documents, {DOCUMENTS * CHUNKS_PER_DOCUMENT} chunks, p50 / p95: "
            f"scope_signature {_ms(lambda p=principal: scope_signature(p))}, "
            f"visible_chunk_ids {_ms(lambda p=principal: visible_chunk_ids(p))}"
        )


def test_a_hit_and_a_miss_through_the_chat_service(real_tenant, llm):  # noqa: F811 - fixtures
    principal = _member(real_tenant)
    _ask(principal)  # loads the models; its answer is cached
    hits = []
    for _ in range(20):
        message = _ask(principal)
        assert message.cached_from is not None
        hits.append((message.timings_ms["total"], message.timings_ms["cache"]))
    lookups, before_llm = [], []
    for i in range(20):
        AnswerCacheEntry.objects.exclude(question=QUESTION).delete()
        message = _ask(principal, f"How long is paid parental leave for case {i}?")
        assert message.cached_from is None
        lookups.append(message.timings_ms["cache"])
        before_llm.append(sum(message.timings_ms.get(k, 0) for k in ("route", "retrieve", "compress")))
    totals, hit_lookups = zip(*hits, strict=True)
    print(
        f"\nhit: total p50 {np.median(totals):.1f} ms, lookup {np.median(hit_lookups):.1f} ms; "
        f"miss: lookup p50 {np.median(lookups):.1f} ms, "
        f"route + retrieve + compress {np.median(before_llm):.1f} ms"
    )


def test_a_miss_against_many_entries_of_one_scope(tenant):  # noqa: F811 - fixture
    principal = _member(tenant)
    conversation = Conversation.objects.create(tenant=tenant, title="t")
    message = Message.objects.create(
        tenant=tenant, conversation=conversation, role=MessageRole.ASSISTANT, text="a"
    )
    signature, model = scope_signature(principal), get_embedder().model_id
    rng = np.random.default_rng(0)
    for n in (100, 2000):
        AnswerCacheEntry.objects.all().delete()
        vectors = rng.standard_normal((n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        AnswerCacheEntry.objects.bulk_create(
            AnswerCacheEntry(
                tenant=tenant,
                scope_signature=signature,
                embedding_model=model,
                question=f"q{i}",
                normalised_question=f"q{i}",
                vector=vectors[i].tobytes(),
                message=message,
            )
            for i in range(n)
        )
        questions = iter(range(1000))
        print(
            f"\n{n} entries in the scope, a miss (fake embedder), p50 / p95: "
            + _ms(
                lambda numbers=questions: cache_probe(
                    principal=principal,
                    question=Message(text=f"question {next(numbers)}?"),
                    route="question",
                    timings={},
                ),
                times=20,
            )
        )
