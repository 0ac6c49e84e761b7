"""The naive baseline of ``manage.py evaluate --answers --baseline naive``: the plain LangChain RAG
recipe, run on the same questions with the same embedder and the same LLM, scored by the same
contract, so every figure of Tessera's has its baseline from the same run.

The recipe, as LangChain's tutorials teach it:

* each corpus record's text split by ``RecursiveCharacterTextSplitter`` (1000 characters, 200 of
  overlap), embedded by Tessera's own embedder (wrapped as a LangChain ``Embeddings``), in an exact
  FAISS L2 index (``IndexFlatL2``, the default of LangChain's FAISS store);
* the 4 nearest chunks "stuffed", separated by blank lines, into LangChain's classic RetrievalQA
  prompt, sent as one user message to the chat model the settings choose (``chat_model_for`` with
  the tenant's ``LlmConfig``: same model, same token limit);
* its citations are the corpus ids of those 4 chunks.

An answer *declines* (an abstention, for the contract) when its first sentence says it does not
know or that the context does not hold the answer: see :func:`abstains`, the prompt asks for
exactly that. Without an LLM (the extractive provider, or one that is unavailable), or when the
LLM fails, the answer is the 4 chunks themselves, as Tessera's own fallback shows its passages.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from django.conf import settings
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_text_splitters import RecursiveCharacterTextSplitter
from tqdm import tqdm

from assistant.answering.llm.client import LlmConfig, LlmUnavailable, chat_model_for
from assistant.models import AnswerKind
from config.engines import get_embedder
from evaluation.answers import AnswerRun, answers_report, score_run, short_answer
from evaluation.beir import BeirDataset, BeirDocument, BeirQuery, GoldAnswer
from retrieval.embedding import Embedder

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
TOP_K = 4
# LangChain's classic "stuff" prompt (langchain.chains.retrieval_qa.prompt.PROMPT_TEMPLATE).
PROMPT = (
    "Use the following pieces of context to answer the question at the end. If you don't know the "
    "answer, just say that you don't know, don't try to make up an answer.\n\n"
    "{context}\n\nQuestion: {question}\nHelpful Answer:"
)

# "I don't know", "The context does not mention ...", "There is no information about ...",
# "... is not mentioned in the provided context": what the prompt's "just say that you don't know"
# produces. Looked for in the first sentence only, so a real answer that goes on to say "if you do
# not know your PIN" is not taken for one.
_ABSTAINS = re.compile(
    r"\bi (?:do not|don't|cannot|can't|could not|couldn't) (?:know|find|answer|say|determine|tell)"
    r"|\b(?:context|documents?|text|passages?|information|pieces of context)(?: provided)?"
    r" (?:does not|doesn't|do not|don't) (?:contain|provide|mention|include|say|specify|state|address"
    r"|cover|give|answer)"
    r"|\bthere (?:is|are) no (?:information|mention|details?|data)\b"
    r"|\bnot (?:mentioned|provided|specified|stated|covered|addressed|given|included) in the"
    r" (?:provided |given )?(?:context|documents?|text|passages?)"
    r"|\b(?:unable|not able) to (?:answer|find|determine)"
)
_FIRST_SENTENCE = re.compile(r"^.*?(?:[.!?](?=\s|$)|\n|$)", re.DOTALL)


def abstains(answer: str) -> bool:
    """Whether the answer's first sentence says it does not know (see ``_ABSTAINS``)."""
    text = " ".join(answer.replace("\u2019", "'").split()).lower()
    first = _FIRST_SENTENCE.match(text)
    return not text or bool(_ABSTAINS.search(first.group(0) if first else text))


class EmbedderEmbeddings(Embeddings):
    """Tessera's embedder as a LangChain ``Embeddings``."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in np.asarray(self.embedder.embed_query(text)).reshape(-1)]


@dataclass(frozen=True, slots=True)
class NaiveChunk:
    corpus_id: str
    text: str


class NaiveIndex:
    """The recipe's vector store: every chunk in an exact FAISS L2 index."""

    def __init__(self, chunks: Sequence[NaiveChunk], embeddings: Embeddings) -> None:
        self.chunks = list(chunks)
        self.embeddings = embeddings
        dimension = len(embeddings.embed_query("dimension"))
        self.index = faiss.IndexFlatL2(dimension)
        if self.chunks:
            vectors = embeddings.embed_documents([c.text for c in self.chunks])
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    @classmethod
    def build(cls, corpus: Sequence[BeirDocument], embeddings: Embeddings) -> NaiveIndex:
        splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
        chunks = [
            NaiveChunk(corpus_id=document.id, text=piece)
            for document in corpus
            for piece in splitter.split_text(document.text)
        ]
        return cls(chunks, embeddings)

    def search(self, question: str, k: int = TOP_K) -> list[NaiveChunk]:
        query = np.asarray([self.embeddings.embed_query(question)], dtype=np.float32)
        if not self.chunks:
            return []
        _, ids = self.index.search(query, min(k, len(self.chunks)))
        return [self.chunks[i] for i in ids[0] if i >= 0]


def naive_chat_model(config: LlmConfig) -> BaseChatModel | None:
    """The chat model Tessera's answer path would use for ``config`` (None: there is none)."""
    try:
        return chat_model_for(config, models_dir=Path(settings.TESSERA["MODELS_DIR"]))
    except LlmUnavailable as exc:
        logger.info("naive baseline without an LLM: %s", exc)
        return None


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)


@dataclass(frozen=True, slots=True)
class Generated:
    text: str
    llm_called: bool
    fallback: bool = False  # the text is the context: no LLM, or it failed
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _generate(
    model: BaseChatModel | None, question: str, context: str, timings: dict[str, float]
) -> Generated:
    """The LLM's answer to the stuffed prompt, streamed (its first token timed); the context
    itself without a model or when the model fails."""
    if model is None:
        return Generated(text=context, llm_called=False, fallback=True)
    started = time.perf_counter()
    parts: list[str] = []
    usage: dict[str, int] = {}
    try:
        for chunk in model.stream([HumanMessage(content=PROMPT.format(context=context, question=question))]):
            usage = dict(getattr(chunk, "usage_metadata", None) or {}) or usage
            if chunk.content and not parts:
                timings["llm_first_token"] = _ms_since(started)
            parts.append(str(chunk.content))
    except Exception as exc:  # as Tessera's answer path: a failing provider falls back to passages
        logger.warning("naive baseline: LLM call failed (%s): %s", type(exc).__name__, exc)
        return Generated(text=context, llm_called=True, fallback=True)
    return Generated(
        text="".join(parts).strip(),
        llm_called=True,
        prompt_tokens=int(usage.get("input_tokens") or 0),
        completion_tokens=int(usage.get("output_tokens") or 0),
    )


def naive_answer(query: BeirQuery, *, index: NaiveIndex, model: BaseChatModel | None) -> AnswerRun:
    """One question through the recipe: retrieve 4 chunks, stuff them, ask once."""
    started = time.perf_counter()
    chunks = index.search(query.text)
    timings = {"retrieve": _ms_since(started)}
    context = "\n\n".join(chunk.text for chunk in chunks)
    generated = _generate(model, query.text, context, timings)
    timings["total"] = _ms_since(started)
    if generated.fallback:
        kind = AnswerKind.EXTRACTIVE
    else:
        kind = AnswerKind.NOT_FOUND if abstains(generated.text) else AnswerKind.ANSWERED
    return AnswerRun(
        id=query.id,
        answer=generated.text,
        short_answer=short_answer(generated.text),
        kind=kind,
        route="question",
        llm_called=generated.llm_called,
        citations=list(dict.fromkeys(chunk.corpus_id for chunk in chunks)),
        prompt_tokens=generated.prompt_tokens,
        completion_tokens=generated.completion_tokens,
        timings_ms=timings,
    )


def naive_runs(
    queries: Sequence[BeirQuery],
    *,
    corpus: Sequence[BeirDocument],
    embedder: Embedder,
    model: BaseChatModel | None,
    gold: Mapping[str, GoldAnswer],
    relevant: Mapping[str, frozenset[str]],
    on_answer: Callable[[AnswerRun], None] = lambda run: None,
    progress: bool = False,
) -> tuple[list[AnswerRun], float]:
    """Index ``corpus`` and answer every query that has gold answers; the runs and the index's seconds."""
    started = time.perf_counter()
    index = NaiveIndex.build(corpus, EmbedderEmbeddings(embedder))
    seconds = time.perf_counter() - started
    runs = []
    asked = [query for query in queries if query.id in gold]
    for query in tqdm(asked, unit="question", desc="naive", disable=not progress):
        run = naive_answer(query, index=index, model=model)
        runs.append(score_run(run, gold=gold[query.id], relevant=relevant.get(query.id, frozenset())))
        on_answer(runs[-1])
    return runs, seconds


def naive_report(
    dataset: BeirDataset,
    queries: Sequence[BeirQuery],
    *,
    config: LlmConfig,
    llm: str,
    relevant: Mapping[str, frozenset[str]],
    write: Callable[[dict[str, Any]], None] = lambda row: None,
    progress: bool = False,
) -> dict[str, Any]:
    """The naive recipe on the queries with gold answers, reported as ``answers_report`` reports
    Tessera (each prediction to ``write``, marked ``"system": "naive"``)."""
    runs, seconds = naive_runs(
        queries,
        corpus=dataset.corpus,
        embedder=get_embedder(),
        model=naive_chat_model(config),
        gold=dataset.gold_answers,
        relevant=relevant,
        on_answer=lambda run: write({"system": "naive", **run.prediction()}),
        progress=progress,
    )
    report = answers_report(runs, [], llm=llm, gold=dataset.gold_answers, relevant=relevant)
    return {
        **report,
        "chunk_size": CHUNK_SIZE,
        "chunk_overlap": CHUNK_OVERLAP,
        "top_k": TOP_K,
        "index_seconds": round(seconds, 2),
    }
