"""Embedders: the fake's contract, batching order, the real tokenizer, ONNX vs sentence-transformers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from retrieval.embedders import load_embedder
from retrieval.embedding import (
    DIMENSION,
    MAX_TOKENS,
    FakeEmbedder,
    OnnxEmbedder,
    embed_in_length_order,
    length_batches,
    packaged_model_dir,
)
from retrieval.embedding_torch import SentenceTransformerEmbedder
from retrieval.onnx_export import session_disabled_optimizers
from retrieval.wordpiece import WordPieceTokenizer

SENTENCES = [
    "How many vacation days do new employees get?",
    "The expense policy caps hotel costs at 180 euros per night in Paris.",
    "VPN access requires a hardware token issued by IT.",
    "Quarterly revenue grew 12% year over year, driven by the enterprise segment.",
    "a",
    "Security incidents must be reported to the on-call engineer within one hour of discovery.",
]


@pytest.fixture(scope="module")
def tokenizer() -> WordPieceTokenizer:
    return WordPieceTokenizer(packaged_model_dir() / "tokenizer.json", MAX_TOKENS)


@pytest.fixture(scope="module")
def onnx_embedder(tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbedder:
    return OnnxEmbedder(cache_dir=tmp_path_factory.mktemp("models"))


def assert_unit_rows(vectors: npt.NDArray[np.float32]) -> None:
    assert vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_fake_embedder_is_deterministic_and_normalised() -> None:
    first = FakeEmbedder(seed=7).embed_documents(SENTENCES)
    again = FakeEmbedder(seed=7).embed_documents(SENTENCES)
    assert first.shape == (len(SENTENCES), DIMENSION)
    assert_unit_rows(first)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(FakeEmbedder(seed=7).embed_query(SENTENCES[2]), first[2])
    assert len({row.tobytes() for row in first}) == len(SENTENCES)
    assert not np.array_equal(FakeEmbedder(seed=8).embed_query(SENTENCES[0]), first[0])


def test_length_sorted_batching_restores_the_original_order() -> None:
    lengths = [5, 1, 9, 3, 3, 7, 2, 8]
    seen: list[list[int]] = []

    def embed_batch(batch: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        seen.append([lengths[i] for i in batch])
        return np.array([[float(i), float(lengths[i])] for i in batch], dtype=np.float32)

    out = embed_in_length_order(lengths, 3, embed_batch, 2)
    np.testing.assert_array_equal(out[:, 0], np.arange(len(lengths)))
    np.testing.assert_array_equal(out[:, 1], lengths)
    assert seen == [[1, 2, 3], [3, 5, 7], [8, 9]]


def test_a_token_budget_caps_each_batchs_padded_positions() -> None:
    lengths = [256, 40, 30, 120, 256, 60, 50, 20]

    def batches(budget: int | None, size: int = 32) -> list[list[int]]:
        return [[lengths[i] for i in batch] for batch in length_batches(lengths, size, budget)]

    assert batches(None) == [[20, 30, 40, 50, 60, 120, 256, 256]]
    # items x the batch's longest item <= 256; a long item goes alone, never dropped
    assert batches(256) == [[20, 30, 40, 50], [60, 120], [256], [256]]
    assert batches(512) == [[20, 30, 40, 50, 60], [120, 256], [256]]
    assert batches(512, size=3) == [[20, 30, 40], [50, 60, 120], [256, 256]]
    assert batches(10) == [[n] for n in sorted(lengths)]  # a budget below one item: one item a batch
    assert length_batches([], 32, 256) == []
    with pytest.raises(ValueError, match="batch_size"):
        length_batches(lengths, 0, 256)

    def embed_batch(batch: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        return np.array([[float(i)] for i in batch], dtype=np.float32)

    out = embed_in_length_order(lengths, 32, embed_batch, 1, max_batch_tokens=256)
    np.testing.assert_array_equal(out[:, 0], np.arange(len(lengths)))  # the original order


def test_count_tokens_uses_the_models_word_pieces(tokenizer: WordPieceTokenizer) -> None:
    assert tokenizer.count("") == 0
    assert tokenizer.count("hello world") == 2
    assert tokenizer.count("Tokenization") == 2  # "token", "##ization": word pieces, not words
    long_text = "word " * 1000
    assert tokenizer.count(long_text) == 1000  # counting never truncates
    assert len(tokenizer.encode([long_text])[0]) == MAX_TOKENS  # encoding does, special tokens included


def test_load_embedder_kinds() -> None:
    assert isinstance(load_embedder("fake"), FakeEmbedder)
    assert isinstance(load_embedder("sentence-transformers"), SentenceTransformerEmbedder)
    auto = load_embedder("auto")
    assert auto.model_id == "all-MiniLM-L6-v2-onnx-int8"
    assert (auto.dimension, auto.max_tokens) == (DIMENSION, MAX_TOKENS)
    for experiment in ("word2vec", "onnx-int8-addln", "onnx-fp32"):  # benchmark variants, not options
        with pytest.raises(ValueError, match="unknown embedder kind"):
            load_embedder(experiment)


@pytest.mark.slow
def test_a_long_texts_int8_vector_does_not_depend_on_its_batch_mates(onnx_embedder: OnnxEmbedder) -> None:
    # More than half the 256-position budget: alone in its batch, so int8's per-batch activation
    # scale is its own whatever else is embedded with it.
    long_text = " ".join(SENTENCES * 6)
    assert onnx_embedder.batch_tokens == 256 and onnx_embedder.tokenizer.count(long_text) > 128
    alone = onnx_embedder.embed_documents([long_text])
    with_others = onnx_embedder.embed_documents([*SENTENCES, long_text, long_text[:300]])
    np.testing.assert_array_equal(with_others[len(SENTENCES)], alone[0])


@pytest.mark.slow
def test_onnx_and_sentence_transformers_agree(onnx_embedder: OnnxEmbedder) -> None:
    baseline = SentenceTransformerEmbedder().embed_documents(SENTENCES)
    fast = onnx_embedder.embed_documents(SENTENCES, batch_size=2)
    assert fast.shape == baseline.shape == (len(SENTENCES), DIMENSION)
    assert_unit_rows(fast)
    cosines = np.sum(fast * baseline, axis=1)
    # int8 weights and activations: 0.994 on average over SciFact, 0.9876 at worst (bench); a lone
    # "a" is the worst of these sentences at 0.987. The fp32 export below must match to rounding.
    assert cosines.min() >= 0.985 and cosines.mean() >= 0.99
    query = onnx_embedder.embed_query(SENTENCES[0])
    assert query.shape == (DIMENSION,)
    # Dynamic int8 quantises activations with one scale per batch: batch-mates move a vector a little.
    assert float(query @ fast[0]) >= 0.985
    baseline_count = SentenceTransformerEmbedder().count_tokens(SENTENCES[0])
    assert onnx_embedder.count_tokens(SENTENCES[0]) == baseline_count


@pytest.mark.slow
def test_onnx_fp32_matches_sentence_transformers(tmp_path: Path) -> None:
    baseline = SentenceTransformerEmbedder().embed_documents(SENTENCES)
    fp32 = OnnxEmbedder(variant="fp32", cache_dir=tmp_path, parallel_batches=False).embed_documents(SENTENCES)
    assert np.min(np.sum(fp32 * baseline, axis=1)) >= 0.9999
    alone = OnnxEmbedder(variant="fp32", cache_dir=tmp_path).embed_query(SENTENCES[3])
    assert float(alone @ fp32[3]) == pytest.approx(1.0, abs=1e-5)  # padding in a batch changes nothing


def test_only_the_unfused_layer_norm_recipe_turns_off_ort_skip_layer_norm_fusion() -> None:
    assert session_disabled_optimizers("int8-addln") == ["SkipLayerNormFusion"]
    assert session_disabled_optimizers("int8") == []
    assert session_disabled_optimizers("fp32") == []


@pytest.mark.slow
def test_int8_addln_runs_add_and_layer_norm_unfused_and_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnx

    embedder = OnnxEmbedder(variant="int8-addln", cache_dir=tmp_path)
    own_options = embedder.session_options

    def saving_the_graph_as_run() -> Any:
        options = own_options()
        options.optimized_model_filepath = str(tmp_path / "as-run.onnx")
        return options

    monkeypatch.setattr(embedder, "session_options", saving_the_graph_as_run)
    embedder._open_session()  # the embedder's own session, as it opens it
    as_run = [node.op_type for node in onnx.load(str(tmp_path / "as-run.onnx")).graph.node]
    assert "SkipLayerNormalization" not in as_run  # ONNX Runtime did not fuse them back
    assert as_run.count("LayerNormalization") == 12  # two per layer, six layers
    vectors = embedder.embed_documents(SENTENCES, batch_size=2)
    assert_unit_rows(vectors)
    baseline = SentenceTransformerEmbedder().embed_documents(SENTENCES)
    assert np.min(np.sum(vectors * baseline, axis=1)) >= 0.98


@pytest.mark.slow
def test_text_longer_than_max_tokens_is_truncated(onnx_embedder: OnnxEmbedder) -> None:
    head = " ".join(f"fact{i}" for i in range(400))
    assert onnx_embedder.count_tokens(head) > MAX_TOKENS
    vectors = onnx_embedder.embed_documents([head, head + " and a different ending far beyond the limit"])
    assert_unit_rows(vectors)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)  # the tail past 256 pieces is cut


@pytest.mark.slow
def test_built_model_is_cached_and_reused(tmp_path: Path) -> None:
    embedder = OnnxEmbedder(variant="fp32", cache_dir=tmp_path)
    embedder.warm_up()
    (built,) = tmp_path.glob("*/model-fp32-*.onnx")
    stamp = built.stat().st_mtime_ns
    OnnxEmbedder(variant="fp32", cache_dir=tmp_path).warm_up()
    assert built.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("*/.build-*"))  # no temp folder left behind


@pytest.mark.slow
def test_embedders_load_offline_from_the_package(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from retrieval.embedders import load_embedder\n"
        "for kind in ('sentence-transformers', 'onnx-int8'):\n"
        "    v = load_embedder(kind, cache_dir=Path(sys.argv[1])).embed_query('offline')\n"
        "    assert v.shape == (384,), v.shape\n"
        "print('ok')\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env["HTTPS_PROXY"] = env["HTTP_PROXY"] = "http://127.0.0.1:9"  # any network use fails fast
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "models")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
    assert not (tmp_path / "hf").exists()  # nothing fetched or cached from a hub


@pytest.mark.slow
def test_onnx_token_vectors_come_from_the_same_pass_as_the_pooled_vector(onnx_embedder: OnnxEmbedder) -> None:
    pooled, tokens = onnx_embedder.embed_documents_tokens(SENTENCES)
    np.testing.assert_allclose(pooled, onnx_embedder.embed_documents(SENTENCES), atol=1e-6)
    ids = onnx_embedder.tokenizer.encode(SENTENCES)
    for row, kept in zip(ids, tokens, strict=True):
        assert 0 < len(kept) < len(row)  # [CLS], [SEP] and the full stop are left out
        np.testing.assert_allclose(np.linalg.norm(kept, axis=1), 1.0, atol=1e-5)
    # alone, as a query (int8 activations are quantised per batch, so compare like with like)
    vector, query_tokens = onnx_embedder.embed_query_tokens(SENTENCES[0])
    np.testing.assert_allclose(vector, onnx_embedder.embed_query(SENTENCES[0]), atol=1e-6)
    assert query_tokens.shape == tokens[0].shape


def test_a_repeated_query_is_embedded_once_and_callers_get_copies(onnx_embedder, monkeypatch):
    calls = []
    real = onnx_embedder.embed_documents_tokens
    monkeypatch.setattr(
        onnx_embedder, "embed_documents_tokens", lambda texts: calls.append(texts) or real(texts)
    )
    text = "a question asked by the cache probe, then by the search"
    first = onnx_embedder.embed_query(text)
    vector, tokens = onnx_embedder.embed_query_tokens(text)
    assert calls == [[text]]
    np.testing.assert_array_equal(first, vector)
    vector[:] = 0  # a caller writing into its copy changes nothing for the next one
    np.testing.assert_array_equal(onnx_embedder.embed_query(text), first)
    assert tokens.shape[1] == first.shape[0]
