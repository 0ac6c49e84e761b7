"""The threshold benchmark's bookkeeping, on the fake embedder (random vectors: only the pair that is
the same text hits, and no different question ever does)."""

from __future__ import annotations

from evaluation.bench.cache_pairs import DIFFERENT, PARAPHRASES, measure


def test_pairs_and_thresholds_are_counted(tmp_path):
    result = measure("fake", tmp_path)
    assert len(result["pairs"]) == len(PARAPHRASES) + len(DIFFERENT)
    same_text = [p for p in result["pairs"] if p["same_text"]]
    assert [p["label"] for p in same_text] == ["paraphrase"]
    for row in result["thresholds"]:
        assert row["paraphrases_hit"] == round(1 / len(PARAPHRASES), 3)
        assert row["different_hit"] == row["different_hit_without_key_terms"] == 0
    guarded = {(p["first"], p["second"]) for p in result["pairs"] if not p["key_terms_agree"]}
    assert ("What was the revenue in 2023?", "What was the revenue in 2024?") in guarded
