"""The router's features: the sentence vector as it is, or with the layer-0 mean from the same pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.embedding import FakeEmbedder, OnnxEmbedder
from retrieval.intent_features import OnnxLexicalFeatures, SentenceFeatures, featurizer_for

# The models folder the Django tests use too (config/test_settings.py), so the ONNX file is built once.
MODELS = Path(__file__).resolve().parents[2] / "var" / "test" / "models"
TEXTS = ["How many vacation days do I get?", "hi", "find the travel policy", "tell me a joke about cats"]


def test_other_embedders_give_their_sentence_vectors():
    embedder = FakeEmbedder(dimension=8)
    featurizer = featurizer_for(embedder)
    assert isinstance(featurizer, SentenceFeatures)
    assert featurizer.model_id == embedder.model_id and featurizer.dimension == 8
    np.testing.assert_array_equal(featurizer.features(TEXTS), embedder.embed_documents(TEXTS))
    assert featurizer.features([]).shape == (0, 8)


@pytest.mark.slow
def test_the_onnx_embedder_adds_the_layer0_mean_from_the_same_pass():
    embedder = OnnxEmbedder(cache_dir=MODELS)
    featurizer = featurizer_for(embedder)
    assert isinstance(featurizer, OnnxLexicalFeatures)
    assert featurizer.model_id == "all-MiniLM-L6-v2-onnx-int8+layer0-mean" and featurizer.dimension == 768
    features = featurizer.features(TEXTS)
    assert features.shape == (4, 768) and features.dtype == np.float32 and features.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(features[:, :384], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(features[:, 384:], axis=1), 1.0, atol=1e-5)
    # The first half is the embedder's own vector, and a text featurized alone gives the row it gets
    # in a batch, up to int8 noise: activations are quantised per batch, padding included.
    cosine = (features[:, :384] * embedder.embed_documents(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.99, cosine
    singly = np.vstack([featurizer.features([text]) for text in TEXTS])
    assert ((singly * features).sum(axis=1) / 2).min() > 0.97
    assert featurizer.features([]).shape == (0, 768)
