"""Chunk vectors as the database stores them: which chunks still need one, the tenant's known
vectors by content hash (reused, never embedded twice), saving a batch of them, and reading them
back as the rows the indexes are built from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.db.models import QuerySet

from ingest.models import Chunk, keyword_text


def needs_embedding(chunk: Chunk, model_id: str, with_tokens: bool) -> bool:
    return (
        chunk.vector is None
        or chunk.embedding_model != model_id
        or (with_tokens and chunk.token_vectors is None)
    )


def known_vectors(
    tenant_id: int, model_id: str, hashes: set[str], *, with_tokens: bool
) -> dict[str, tuple[bytes, bytes | None]]:
    """Stored (vector, token vectors) of the tenant by content hash, for the hashes given (with
    ``with_tokens``, only rows that have their token vectors too)."""
    known: dict[str, tuple[bytes, bytes | None]] = {}
    ordered = sorted(hashes)
    for start in range(0, len(ordered), 500):  # SQLite bounds the parameters of one query
        rows = Chunk.objects.filter(
            tenant_id=tenant_id, embedding_model=model_id, content_hash__in=ordered[start : start + 500]
        ).exclude(vector=None)
        if with_tokens:
            rows = rows.exclude(token_vectors=None)
        known.update(
            (content_hash, (bytes(vector), bytes(tokens) if tokens is not None else None))
            for content_hash, vector, tokens in rows.values_list("content_hash", "vector", "token_vectors")
            if vector is not None
        )
    return known


def vectors_save(chunks: list[Chunk]) -> None:
    """Store the chunks' vectors: one UPDATE per row, sent as one batch (``bulk_update`` builds a
    CASE over hundreds of blobs per statement, which costs more than the rows themselves)."""
    if not chunks:
        return
    table = connection.ops.quote_name(Chunk._meta.db_table)
    sql = f"UPDATE {table} SET vector = %s, token_vectors = %s, embedding_model = %s WHERE id = %s"  # noqa: S608 (no user input)
    rows = [(_vector_bytes(c), _optional_bytes(c.token_vectors), c.embedding_model, c.pk) for c in chunks]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _optional_bytes(value: bytes | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


def vectors_of(chunks: list[Chunk]) -> npt.NDArray[np.float32]:
    """The stored vectors of ``chunks`` as one C-contiguous float32 matrix."""
    return _stack_vectors([_vector_bytes(c) for c in chunks])


def _stack_vectors(blobs: list[bytes | memoryview]) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(np.stack([np.frombuffer(blob, dtype="<f4") for blob in blobs]))


def _vector_bytes(chunk: Chunk) -> bytes:
    if chunk.vector is None:
        raise ValueError(f"chunk {chunk.pk} has no vector")
    return bytes(chunk.vector)


@dataclass(frozen=True)
class IndexRows:
    """What the indexes hold for a set of chunks: ids, vectors and BM25 texts, aligned."""

    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    texts: list[str]


def index_rows(chunks: QuerySet[Chunk], *, dimension: int) -> IndexRows:
    """The index rows of ``chunks``, read as plain values (no model instances: a flush reads every
    chunk of its versions). A chunk without a vector is an error: index only embedded chunks."""
    rows = list(
        chunks.order_by("version_id", "ordinal").values_list(
            "pk", "vector", "text", "heading_path", "version__document__title"
        )
    )
    missing = [pk for pk, vector, *_ in rows if vector is None]
    if missing:
        raise ValueError(f"chunks {missing[:5]} have no vector")
    return IndexRows(
        ids=np.array([row[0] for row in rows], dtype=np.int64),
        vectors=_stack_vectors([row[1] for row in rows if row[1] is not None])
        if rows
        else np.zeros((0, dimension), dtype=np.float32),
        texts=[keyword_text(title, heading_path, text) for _, _, text, heading_path, title in rows],
    )
