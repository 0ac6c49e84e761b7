"""Intent routing on a CLINC150-format file: accuracy, out-of-scope detection, training time, latency.

    python manage.py evaluate_intent --data ../shared/bench/clinc150/data_full.json [--json OUT]

Trains the router's model type on ``train`` + ``oos_train`` with the configured embedder, chooses
the out-of-scope threshold on ``val`` + ``oos_val`` only, routes each ``test`` + ``oos_test``
message singly and prints one JSON object, the last line of standard output. Nothing is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.engines import get_embedder
from evaluation.intents import CLINC_OOS_LABEL, IntentDataError, evaluate_intent, load_clinc


class Command(BaseCommand):
    help = (
        "Train the intent router on a CLINC150-format file (train + oos_train), choose its "
        "out-of-scope threshold on val + oos_val, route every test + oos_test message one at a time "
        "and print in_scope_accuracy, oos_recall, oos_precision, train_seconds (embedding the "
        "training and validation texts + fitting), route_ms_p50 and route_ms_p95 as one JSON line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="a CLINC150-format JSON file")
        parser.add_argument("--json", type=Path, help="also write the result here")
        parser.add_argument(
            "--oos-label", default=CLINC_OOS_LABEL, help="the file's out-of-scope label (default: oos)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["json"]) if options["json"] else None
        if out is not None:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.touch()
            except OSError as exc:
                raise CommandError(f"Cannot write {out}: {exc.strerror}.") from exc
        try:
            dataset = load_clinc(Path(options["data"]), oos_label=options["oos_label"])
        except IntentDataError as exc:
            raise CommandError(f"Not a readable CLINC150-format file: {exc}") from exc
        progress = self.stderr.write if options["verbosity"] >= 1 else None
        result = {"data": str(Path(options["data"]).resolve())}
        result |= evaluate_intent(dataset, get_embedder(), progress=progress)
        line = json.dumps(result)
        if out is not None:
            out.write_text(line + "\n")
        self.stdout.write(line)
