"""Write the mixed message set of the LLM-last benchmark (see ``evaluation.mixed_set``).

python manage.py mixed_set --source ../shared/bench/xquad_en --out var/bench/mixed
python manage.py evaluate --data var/bench/mixed --routes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.beir import BeirFormatError
from evaluation.mixed_set import build_mixed_set


class Command(BaseCommand):
    help = (
        "Write a BEIR folder whose messages.jsonl mixes a seeded sample of SOURCE's answerable questions, "
        "repeats of some of them, and Tessera's own searches, small talk, out-of-scope requests and "
        "attempts to take over the assistant, for `evaluate --routes`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", type=Path, required=True, help="a BEIR folder with answers.jsonl")
        parser.add_argument("--out", type=Path, required=True, help="the folder to write")
        parser.add_argument("--questions", type=int, default=110, help="questions sampled from SOURCE")
        parser.add_argument("--repeats", type=int, default=20, help="of those, how many are asked again")
        parser.add_argument("--seed", type=int, default=13)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["questions"] < 1 or not 0 <= options["repeats"] <= options["questions"]:
            raise CommandError("--questions must be at least 1 and --repeats between 0 and --questions.")
        try:
            mixed = build_mixed_set(
                Path(options["source"]),
                Path(options["out"]),
                questions=options["questions"],
                repeats=options["repeats"],
                seed=options["seed"],
            )
        except (BeirFormatError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        shares = ", ".join(f"{kind} {count}" for kind, count in sorted(mixed.counts.items()))
        self.stdout.write(f"Wrote {mixed.total} messages to {mixed.folder}: {shares}")
