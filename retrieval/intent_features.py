"""What the intent router classifies: the embedder's sentence vector and, where the ONNX embedder
runs, the mean of the model's layer-0 word-piece states too, from the same forward pass.

The layer-0 states (word-piece + position embeddings after the embedding layer norm) say which
words a message uses; the sentence vector says what it means. On CLINC150's validation split a
linear model on both is about 1.2 points more accurate than on the sentence vector alone (see
docs/benchmarks.md), at no extra encoder cost: the graph already computes them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from retrieval.embedding import (
    Embedder,
    EmbedderUnavailable,
    OnnxEmbedder,
    embed_in_length_order,
    normalize_rows,
)
from retrieval.wordpiece import pad_batch

Vectors = npt.NDArray[np.float32]
LEXICAL_SUFFIX = "+layer0-mean"


class Featurizer(Protocol):
    """Texts to the feature rows a router is trained on; ``model_id`` names exactly what they are."""

    model_id: str
    dimension: int

    def features(self, texts: Sequence[str]) -> Vectors: ...


class SentenceFeatures:
    """The embedder's L2-normalised sentence vectors as they are (any embedder, fakes included)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dimension = embedder.dimension

    def features(self, texts: Sequence[str]) -> Vectors:
        """One row per text, in order."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self.embedder.embed_documents(list(texts))


class OnnxLexicalFeatures:
    """``[sentence vector | mean of the layer-0 word-piece states]``, each half L2-normalised.

    Runs the ONNX embedder's own file, with the embedding layer's output added to the graph's
    outputs, in a session of its own (opened on first use, after any fork).
    """

    def __init__(self, embedder: OnnxEmbedder) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id + LEXICAL_SUFFIX
        self.dimension = 2 * embedder.dimension
        self._lock = threading.Lock()
        self._session: Any = None
        self._layer0 = ""
        self._pool: ThreadPoolExecutor | None = None

    def warm_up(self) -> None:
        """Open the session (builds the embedder's ONNX file the first time)."""
        self._get_session()

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._open_session()
                if self.embedder.parallel_batches:
                    self._pool = ThreadPoolExecutor(self.embedder.threads, thread_name_prefix="intent")
            return self._session

    def _open_session(self) -> Any:
        options = self.embedder.session_options()  # first: it says clearly when onnxruntime is missing
        import onnx
        import onnxruntime as ort

        model = onnx.load(str(self.embedder.onnx_path()))
        layer0 = [n.output[0] for n in model.graph.node if n.op_type == "EmbedLayerNormalization"]
        if len(layer0) != 1:
            raise EmbedderUnavailable(
                f"{self.embedder.onnx_path()} has no single fused embedding layer to read layer 0 from"
            )
        self._layer0 = layer0[0]
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(self._layer0, onnx.TensorProto.FLOAT, None)
        )
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def _run(self, ids: Sequence[Sequence[int]]) -> Vectors:
        input_ids, mask = pad_batch(ids)
        session = self._get_session()
        pooled, layer0 = session.run(
            [session.get_outputs()[0].name, self._layer0], {"input_ids": input_ids, "attention_mask": mask}
        )
        weights = mask[..., np.newaxis].astype(np.float32)
        states = np.asarray(layer0, dtype=np.float32).reshape(*mask.shape, -1)
        mean = (states * weights).sum(axis=1) / weights.sum(axis=1)
        return np.hstack([normalize_rows(pooled), normalize_rows(mean)])

    def features(self, texts: Sequence[str], batch_size: int = 64) -> Vectors:
        """One row per text, in order; texts are batched by length, ``batch_size`` a batch.

        Not under the embedder's padded-position budget: int8 features move with their batch-mates,
        and the router's threshold rule was measured on batches of 64 (docs/benchmarks.md)."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        ids = self.embedder.tokenizer.encode(texts)
        self._get_session()
        return embed_in_length_order(
            [len(row) for row in ids],
            batch_size,
            lambda batch: self._run([ids[i] for i in batch]),
            self.dimension,
            map_batches=self._pool.map if self._pool is not None else map,
        )


def featurizer_for(embedder: Embedder) -> Featurizer:
    """The richest features this embedder can give the router."""
    if isinstance(embedder, OnnxEmbedder):
        return OnnxLexicalFeatures(embedder)
    return SentenceFeatures(embedder)
