"""The default intent router: train it now (or load the current version) and say how good it is.

    python manage.py intent_router

`manage.py serve` runs this before it starts the web server, in a process of its own, so the
first chat message does not wait for the training (seconds) and no server process holds the
embedder it needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from assistant.routing.router import ROUTER_FOLDER, TrainingSetError, intent_router_load_or_train
from config.engines import get_embedder
from retrieval.intent import IntentModelError


class Command(BaseCommand):
    help = "Train (or load) the default intent router of this installation and print its figures."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            router = intent_router_load_or_train(
                embedder=get_embedder(), folder=Path(settings.TESSERA["MODELS_DIR"]) / ROUTER_FOLDER
            )
        except (IntentModelError, TrainingSetError, OSError) as exc:
            raise CommandError(f"The intent router could not be trained: {exc}") from exc
        info = router.info
        self.stdout.write(
            f"Intent router {info.get('version', '?')} ({router.model_id}): out-of-fold "
            + json.dumps(info.get("validation", {}))
        )
