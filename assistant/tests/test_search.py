"""The search path for a principal: scope inside the searches, documents with passages."""

from __future__ import annotations

import pytest

from assistant.answering.search import search
from governance.access import principal_for_membership
from governance.models import Role
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory
from ingest.models import Chunk
from ingest.selectors import visible_chunk_ids
from ingest.tests.builders import HANDBOOK, ingest_now
from retrieval.late_interaction import LateInteractionReranker

pytestmark = pytest.mark.django_db


def _ingest(tenant, name, text, **kwargs):
    return ingest_now(tenant, name, text.encode(), **kwargs)


def _principal(tenant, role=Role.MEMBER, groups=()):
    membership = MembershipFactory(tenant=tenant, role=role)
    for group in groups:
        group.members.add(membership)
    return principal_for_membership(membership)


def test_documents_come_back_with_their_best_passages():
    tenant = TenantFactory()
    handbook = _ingest(tenant, "handbook.md", HANDBOOK)
    _ingest(tenant, "cafeteria.md", "# Cafeteria\n\nThe cafeteria opens at eight and serves lunch.")
    results = search(principal=_principal(tenant), query="receipts reimbursed meals", k=5)
    top = results.documents[0]
    assert top.document_id == handbook.document_id and top.title == "Employee handbook"
    assert "receipts" in top.passages[0].text and top.passages[0].heading_path[-1] == "Expenses"
    assert len({d.document_id for d in results.documents}) == len(results.documents)
    assert {"scope", "embed", "dense", "sparse", "fuse"} <= set(results.timings_ms)


def test_a_member_never_gets_what_the_scope_hides():
    acme, globex = TenantFactory(), TenantFactory()
    board = AccessGroupFactory(tenant=acme)
    _ingest(acme, "open.md", "# Open\n\nThe cafeteria opens at eight.")
    secret = _ingest(acme, "secret.md", "# Board\n\nMerger talks with Initech.", access_groups=[board])
    _ingest(globex, "globex.md", "# Globex\n\nMerger talks with Initech, says Globex.")
    member, insider = _principal(acme), _principal(acme, groups=[board])
    outsider = _principal(globex, role=Role.OWNER)

    def documents(principal):
        return {d.document_id for d in search(principal=principal, query="merger Initech", k=1000).documents}

    assert secret.document_id not in documents(member)
    assert secret.document_id in documents(insider)
    assert secret.document_id not in documents(outsider)
    assert documents(outsider) and not (documents(outsider) & documents(insider))
    assert set(visible_chunk_ids(member)).isdisjoint(secret.chunks.values_list("id", flat=True))


def test_a_replaced_version_is_not_found_and_an_empty_query_finds_nothing():
    tenant = TenantFactory()
    first = _ingest(tenant, "policy.md", "# Policy\n\nBadges are blue.")
    _ingest(tenant, "policy.md", "# Policy\n\nBadges are green.", document=first.document)
    principal = _principal(tenant)
    passages = search(principal=principal, query="badges blue green", k=5).passages
    assert len(passages) == 1 and "green" in passages[0].text and "blue" not in passages[0].text
    assert search(principal=principal, query="   ").documents == []


def test_rerank_reorders_the_fused_top_with_the_stored_token_vectors(monkeypatch, settings):
    tenant = TenantFactory()
    _ingest(tenant, "handbook.md", HANDBOOK)
    _ingest(tenant, "cafeteria.md", "# Cafeteria\n\nThe cafeteria opens at eight and serves lunch.")
    principal = _principal(tenant)
    seen = []
    original = LateInteractionReranker.rerank
    monkeypatch.setattr(
        LateInteractionReranker,
        "rerank",
        lambda self, groups, query, tokens: (
            seen.append((len(query), len(tokens))) or original(self, groups, query, tokens)
        ),
    )
    fused = search(principal=principal, query="receipts reimbursed meals", k=5, rerank=False)
    assert seen == []  # --no-rerank: the stage does not run
    reranked = search(principal=principal, query="receipts reimbursed meals", k=5)
    assert seen == [(3, Chunk.objects.filter(tenant=tenant).count())]  # 3 query words, every chunk's tokens
    assert {d.document_id for d in reranked.documents} == {d.document_id for d in fused.documents}
    assert reranked.timings_ms["rerank"] > 0.0
    settings.TESSERA = {**settings.TESSERA, "RERANK_TOP_K": 0}  # switched off by configuration
    search(principal=principal, query="receipts reimbursed meals", k=5)
    assert len(seen) == 1
    settings.TESSERA = {**settings.TESSERA, "RERANK_TOP_K": 30}
    Chunk.objects.filter(pk=Chunk.objects.filter(tenant=tenant).first().pk).update(token_vectors=None)
    search(principal=principal, query="receipts reimbursed meals", k=5)
    assert len(seen) == 1  # a chunk without token vectors (indexed before them): fused order kept


def test_words_the_embedders_vocabulary_holds_whole_are_never_misspellings(monkeypatch):
    from assistant.answering import search as search_module
    from retrieval.bm25_tokenizer import Bm25Tokenizer
    from retrieval.embedding import load_tokenizer

    whole = search_module._vocabulary_words(load_tokenizer(None, 256))
    assert {"surrender", "gandhi", "sing"} <= whole and not {"ghandi", "##ing", "a"} & whole
    monkeypatch.setattr(search_module, "_whole_words", lambda: whole)
    terms = search_module._dictionary_terms(
        "Who did Ghandi's followers surrender to in 1931?", Bm25Tokenizer()
    )
    assert "surrend" in terms and "ghandi" not in terms and "1931" not in terms
