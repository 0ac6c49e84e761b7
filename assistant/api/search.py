"""Search over the REST API: ranked passages with their scores, never an LLM call."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.answering.questions import MAX_QUESTION_CHARS
from assistant.answering.search import DocumentHit, PassageHit, SearchResults, search
from assistant.api.fields import JsonIntegerField, JsonTextField, text_field
from config.api import principal_of

MAX_TOP_K = 50


class SearchInput(serializers.Serializer[Any]):
    query = JsonTextField(max_length=MAX_QUESTION_CHARS)
    top_k = JsonIntegerField(
        default=10, min_value=1, max_value=MAX_TOP_K, help_text="How many passages (default 10)."
    )


class SearchQuery(serializers.Serializer[Any]):
    """The same, as the query string of a GET."""

    q = text_field(MAX_QUESTION_CHARS, help_text="The query.")
    top_k = serializers.IntegerField(
        default=10, min_value=1, max_value=MAX_TOP_K, help_text="How many passages (default 10)."
    )


class PassageSerializer(serializers.Serializer[Any]):
    """A passage (a chunk of a document's current version) and how the searches ranked it."""

    rank = serializers.IntegerField(help_text="1 is the best.")
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    version_id = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    page = serializers.IntegerField(allow_null=True)
    heading_path = serializers.ListField(child=serializers.CharField(allow_blank=True))
    text = serializers.CharField(allow_blank=True)
    char_start = serializers.IntegerField()
    char_end = serializers.IntegerField()
    score = serializers.FloatField(help_text="The fused score (dense and sparse).")
    dense_rank = serializers.IntegerField(allow_null=True, help_text="Null: the dense search missed it.")
    sparse_rank = serializers.IntegerField(allow_null=True, help_text="Null: the keyword search missed it.")
    rerank_score = serializers.FloatField(
        allow_null=True, help_text="Its late-interaction (MaxSim) score; null when it was not reranked."
    )

    class Meta:
        ref_name = "Passage"


class DocumentHitSerializer(serializers.Serializer[Any]):
    """A document found, scored by its best passages (reranked when the embedder allows it)."""

    document_id = serializers.IntegerField()
    version_id = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    score = serializers.FloatField(help_text="The fused score.")
    rerank_score = serializers.FloatField(
        allow_null=True, help_text="The reranker's score; null if not reranked."
    )
    chunk_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Its passages, best first.")

    class Meta:
        ref_name = "DocumentHit"


class SearchResultSerializer(serializers.Serializer[Any]):
    query = serializers.CharField()
    passages = PassageSerializer(many=True, help_text="Best document first, then best passage first.")
    documents = DocumentHitSerializer(many=True)
    timings_ms = serializers.DictField(child=serializers.FloatField())

    class Meta:
        ref_name = "SearchResult"


class SearchApi(APIView):
    """Search the documents the caller may see (no LLM): ranked passages, each with its scores."""

    required_scope = "search"
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(parameters=[SearchQuery], responses=SearchResultSerializer)
    def get(self, request: Request) -> Response:
        given = SearchQuery(data=request.query_params)
        given.is_valid(raise_exception=True)
        return _search(request, given.validated_data["q"], given.validated_data["top_k"])

    @extend_schema(request=SearchInput, responses=SearchResultSerializer)
    def post(self, request: Request) -> Response:
        given = SearchInput(data=request.data)
        given.is_valid(raise_exception=True)
        return _search(request, given.validated_data["query"], given.validated_data["top_k"])


def _search(request: Request, query: str, top_k: int) -> Response:
    results = search(principal=principal_of(request), query=query, k=top_k)
    return Response(search_json(results, top_k))


def search_json(results: SearchResults, top_k: int) -> dict[str, Any]:
    """The best ``top_k`` passages, and the documents they come from, as the API returns them."""
    document_of = {p.chunk_id: d for d in results.documents for p in d.passages}
    passages = results.passages[:top_k]
    shown = {p.chunk_id for p in passages}
    documents = [d for d in results.documents if any(p.chunk_id in shown for p in d.passages)]
    return {
        "query": results.query,
        "passages": [_passage_json(rank, p, document_of[p.chunk_id]) for rank, p in enumerate(passages, 1)],
        "documents": [
            {
                "document_id": d.document_id,
                "version_id": d.version_id,
                "title": d.title,
                "score": float(d.score),
                "rerank_score": d.rerank_score,
                "chunk_ids": [p.chunk_id for p in d.passages if p.chunk_id in shown],
            }
            for d in documents
        ],
        "timings_ms": {step: float(ms) for step, ms in results.timings_ms.items()},
    }


def _passage_json(rank: int, passage: PassageHit, document: DocumentHit) -> dict[str, Any]:
    return {
        "rank": rank,
        "chunk_id": passage.chunk_id,
        "document_id": document.document_id,
        "version_id": passage.version_id,
        "title": document.title,
        "page": passage.page,
        "heading_path": list(passage.heading_path),
        "text": passage.text,
        "char_start": passage.char_start,
        "char_end": passage.char_end,
        "score": float(passage.score),
        "dense_rank": passage.dense_rank,
        "sparse_rank": passage.sparse_rank,
        "rerank_score": passage.rerank_score,
    }
