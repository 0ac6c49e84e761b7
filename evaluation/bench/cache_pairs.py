"""The answer cache's threshold: the embedder's cosine for question pairs written for it, paraphrases
(the same question: the cached answer is right) and different questions, most on the same topic
(a cached answer would be wrong), and which pairs hit at each threshold with the key-term check.

    python -m evaluation.bench.cache_pairs [--embedder auto] [--json OUT]

Prints one JSON object: every pair's cosine and whether its key terms agree, and per threshold the
share of paraphrases that hit and the number of different questions that would wrongly hit.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedders import load_embedder
from retrieval.embedding import default_cache_dir
from retrieval.question_match import normalise, same_key_terms

THRESHOLDS = (0.85, 0.88, 0.9, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97)

PARAPHRASES = [
    ("How long is paid parental leave?", "How long does paid parental leave last?"),
    ("How long is paid parental leave?", "What's the length of paid parental leave?"),
    ("Who approves travel requests over 500 euros?", "Who signs off on travel requests above 500 euros?"),
    ("What is the deadline for Q3 expense reports?", "When are Q3 expense reports due?"),
    ("How long is paid parental leave?", "How many weeks of paid parental leave do employees get?"),
    ("How long is paid parental leave?", "how long is paid parental leave"),
    ("How long is paid parental leave?", "What is the duration of paid parental leave?"),
    ("How long is paid parental leave?", "For how long is parental leave paid?"),
    ("How long is paid parental leave?", "How much paid parental leave do we get?"),
    ("When are expense receipts due?", "What is the deadline for submitting expense receipts?"),
    ("When are expense receipts due?", "By when do I have to submit my receipts?"),
    ("What time does the cafeteria open?", "When does the cafeteria open?"),
    ("What time does the cafeteria open?", "At what time does the canteen open?"),
    ("How do I reset my VPN password?", "How can I reset the password for the VPN?"),
    ("How do I reset my VPN password?", "I forgot my VPN password, how do I reset it?"),
    ("Who approves travel requests?", "Who has to approve a travel request?"),
    ("What is the meal allowance per day?", "How much are meals reimbursed per day?"),
    ("Can I work from home on Fridays?", "Is remote work allowed on Fridays?"),
    ("How many vacation days do I get?", "How many days of annual leave am I entitled to?"),
]
DIFFERENT = [
    ("Is paid parental leave 16 weeks long?", "Is paid parental leave 18 weeks long?"),
    ("How long is paid parental leave?", "Is paid parental leave 16 weeks long?"),
    ("How long is paid parental leave in France?", "How long is paid parental leave in Germany?"),
    ("What was the revenue in 2023?", "What was the revenue in 2024?"),
    ("Who approves travel requests over 500 euros?", "Who approves travel requests over 5000 euros?"),
    ("What is the phone number of the Berlin office?", "What is the phone number of the Paris office?"),
    ("How do I request a new laptop?", "How do I return my old laptop?"),
    ("Can contractors use the gym?", "Can employees use the gym?"),
    ("What is the deadline for Q3 expense reports?", "What is the deadline for Q4 expense reports?"),
    ("Does the Acme plan include dental insurance?", "Does the Globex plan include dental insurance?"),
    ("Is the office closed on Christmas Eve?", "Is the office closed on New Year's Eve?"),
    ("How much is the bonus for a senior engineer?", "How much is the bonus for a junior engineer?"),
    ("How long is paid parental leave?", "Who is eligible for paid parental leave?"),
    ("How long is paid parental leave?", "How long is unpaid parental leave?"),
    ("How long is paid parental leave?", "How do I apply for parental leave?"),
    ("How long is paid parental leave?", "Is parental leave paid for fathers too?"),
    ("How long is paid parental leave?", "How long is paid sick leave?"),
    ("When are expense receipts due?", "How are expense receipts submitted?"),
    ("When are expense receipts due?", "What is the meal allowance per day?"),
    ("What time does the cafeteria open?", "What time does the cafeteria close?"),
    ("What time does the cafeteria open?", "Does the cafeteria serve vegetarian food?"),
    ("How do I reset my VPN password?", "How do I install the VPN client?"),
    ("How do I reset my VPN password?", "How do I reset my email password?"),
    ("Who approves travel requests?", "Who approves expense reports?"),
    ("Who approves travel requests?", "How do I book a flight for a business trip?"),
    ("Can I work from home on Fridays?", "Can I work from home on Mondays?"),
    ("How many vacation days do I get?", "How many sick days do I get?"),
    ("How many vacation days do I get?", "Can I carry over unused vacation days?"),
]


def measure(kind: str, cache_dir: Path) -> dict[str, Any]:
    """Cosines of every pair and the hit rates per threshold."""
    embedder = load_embedder(kind, cache_dir=cache_dir)
    embedder.embed_query("warm up")
    pairs: list[dict[str, Any]] = []
    latencies: list[float] = []
    for label, group in (("paraphrase", PARAPHRASES), ("different", DIFFERENT)):
        for first, second in group:
            started = time.perf_counter()
            a = embedder.embed_query(first)
            latencies.append((time.perf_counter() - started) * 1000.0)
            b = embedder.embed_query(second)
            cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
            pairs.append(
                {
                    "label": label,
                    "first": first,
                    "second": second,
                    "cosine": round(cosine, 4),
                    "same_text": normalise(first) == normalise(second),
                    "key_terms_agree": same_key_terms(first, second),
                }
            )
    return {
        "embedder": embedder.model_id,
        "pairs": pairs,
        "thresholds": [_at(t, pairs) for t in THRESHOLDS],
        "embed_query_ms_p50": round(float(np.median(latencies)), 2),
    }


def _hits(pair: dict[str, Any], threshold: float, guard: bool) -> bool:
    return bool(pair["same_text"]) or (
        pair["cosine"] >= threshold and (bool(pair["key_terms_agree"]) or not guard)
    )


def _at(threshold: float, pairs: list[dict[str, Any]]) -> dict[str, Any]:
    paraphrases = [p for p in pairs if p["label"] == "paraphrase"]
    different = [p for p in pairs if p["label"] == "different"]
    return {
        "threshold": threshold,
        "paraphrases_hit": round(sum(_hits(p, threshold, True) for p in paraphrases) / len(paraphrases), 3),
        "different_hit": sum(_hits(p, threshold, True) for p in different),
        "different_hit_without_key_terms": sum(_hits(p, threshold, False) for p in different),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = measure(args.embedder, args.cache_dir)
    text = json.dumps(result)
    if args.json:
        args.json.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
