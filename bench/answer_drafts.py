"""What the LLM wrote, before the citation check: for reading misses one by one.

    python bench/answer_drafts.py --data bench/debian_handbook --ids h015,h016 [--show-prompt]

For each question id: the evidence the answer path selects (``assistant.answering.pipeline._retrieve``, as
``bench/evidence_coverage.py`` does), the embedded LLM's raw reply to the prompt the product sends
(``build_messages``), and the citation check's verdict on each sentence (``check_answer``: supported,
its score, its markers). The stored answer of an evaluation keeps only what the check let through
(a reply with no supported sentence becomes the labelled passages), so this is where the reply
itself is read. One JSON line per question.

It reuses the ingest ``manage.py evaluate --data DIR`` cached under TESSERA_DATA_DIR (run that
first). A benchmark tool, not part of the product.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(BASE_DIR), str(Path(__file__).resolve().parent)]

from evidence_coverage import gold_answers, rerun_in_cached_ingest  # noqa: E402


def drafts(data: Path, ids: list[str], show_prompt: bool) -> None:
    from django.conf import settings

    from assistant.answering import pipeline
    from assistant.answering.compose import build_messages, format_passages
    from assistant.answering.llm.client import chat_model_for
    from assistant.answering.llm.policy import llm_config_for
    from assistant.answering.trace import Trace
    from assistant.answering.verify import check_answer
    from config.engines import get_embedder
    from evaluation.contract import answer_correct
    from evaluation.harness import STATE_FILE, IngestState, evaluation_principal
    from governance.models import Tenant

    state = IngestState.load(Path(os.environ["TESSERA_DATA_DIR"]) / STATE_FILE)
    tenant = Tenant.objects.get(pk=state.tenant_id)
    principal = evaluation_principal(tenant)
    model = chat_model_for(llm_config_for(tenant), models_dir=Path(settings.TESSERA["MODELS_DIR"]))
    questions = {qid: (question, phrases) for qid, question, phrases in gold_answers(data)}
    for qid in ids:
        if qid not in questions:
            print(json.dumps({"id": qid, "error": "no answerable question with this id"}))
            continue
        question, phrases = questions[qid]
        evidence = pipeline._retrieve(principal, question, Trace()).evidence
        messages = build_messages(question, evidence)
        started = time.perf_counter()
        raw = "".join(str(chunk.content) for chunk in model.stream(messages))
        seconds = round(time.perf_counter() - started, 1)
        checked = check_answer(raw, evidence, embedder=get_embedder())
        row = {
            "id": qid,
            "question": question,
            "phrases": phrases,
            "evidence_holds_phrases": answer_correct(format_passages(evidence), phrases),
            "raw_holds_phrases": answer_correct(raw, phrases),
            "raw": raw,
            "sentences": [
                {"text": s.text, "markers": s.markers, "supported": s.supported, "score": round(s.score, 3)}
                for s in checked.sentences
            ],
            "seconds": seconds,
        }
        if show_prompt:
            row["prompt"] = str(messages[-1].content)
        print(json.dumps(row, ensure_ascii=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--ids", required=True, help="question ids, comma-separated")
    parser.add_argument("--show-prompt", action="store_true", help="also print the user turn")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data = args.data.resolve()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if not args.inner:  # again, in the cached ingest's data folder and database
        rerun_in_cached_ingest(args.data, __file__)
    drafts(args.data, [i.strip() for i in args.ids.split(",") if i.strip()], args.show_prompt)


if __name__ == "__main__":
    main()
