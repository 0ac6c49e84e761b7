"""``evaluate --answers``: Tessera's answers scored, and with ``--baseline naive`` the naive LangChain
recipe with the same model (``evaluation.naive``) on the same questions, side by side with their
ratios. Its own module because the baseline reuses the answer scoring of ``evaluation.answers``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from assistant.answering.llm.client import Provider
from assistant.answering.llm.policy import llm_config_for
from evaluation.answers import COUNTS, answers_report, answers_run, relevant_documents
from evaluation.beir import BeirDataset, BeirQuery
from evaluation.contract import ratios
from evaluation.naive import naive_report
from governance.access import Principal


def answers_evaluate(
    dataset: BeirDataset,
    queries: Sequence[BeirQuery],
    *,
    principal: Principal,
    documents: Mapping[int, list[str]],
    write: Callable[[dict[str, Any]], None] = lambda row: None,
    progress: bool = False,
    baseline: str = "",
) -> dict[str, Any]:
    """Answer the queries that have gold answers, pass each prediction to ``write``, report the
    metrics; with ``baseline="naive"``, the same through the naive recipe, both side by side."""
    relevant = relevant_documents(dataset.qrels)
    system = {"system": "tessera"} if baseline else {}
    answered, refused = answers_run(
        queries,
        principal=principal,
        gold=dataset.gold_answers,
        documents=documents,
        relevant=relevant,
        on_answer=lambda run: write({**system, **run.prediction()}),
        progress=progress,
    )
    config = llm_config_for(principal.tenant)
    llm = f"{config.provider}:{config.model}" if config.provider != Provider.EXTRACTIVE else config.provider
    ours = answers_report(answered, refused, llm=llm, gold=dataset.gold_answers, relevant=relevant)
    if not baseline:
        return ours
    naive = naive_report(
        dataset, queries, config=config, llm=llm, relevant=relevant, write=write, progress=progress
    )
    return {"tessera": ours, "naive": naive, "ratio": ratios(ours, naive, skip=COUNTS)}
