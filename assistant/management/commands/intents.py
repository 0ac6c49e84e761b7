"""A tenant's own intent routing from the command line (admins also have /settings/intents/).

    python manage.py intents --tenant SLUG list
    python manage.py intents --tenant SLUG add-example "Where is the canteen menu?" --label canteen
    python manage.py intents --tenant SLUG remove-example ID
    python manage.py intents --tenant SLUG add-intent canteen --reply "The menu is on the intranet."
    python manage.py intents --tenant SLUG add-intent hr --group "HR documents"
    python manage.py intents --tenant SLUG retrain [--wait]
    python manage.py intents --tenant SLUG show N
    python manage.py intents --tenant SLUG activate N
    python manage.py intents --tenant SLUG rollback

``retrain`` queues the training for a Celery worker; ``--wait`` trains here instead and prints the
evaluation. A trained version is a candidate until ``activate``.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from assistant.models import IntentModelStatus, IntentModelVersion
from assistant.routing.intents import (
    intent_example_add,
    intent_example_remove,
    intent_model_activate,
    intent_model_retrain,
    intent_model_rollback,
    tenant_intent_add,
)
from assistant.routing.selectors import intent_model_get, intent_model_list, intent_summary
from assistant.routing.training import intent_model_train_or_fail
from config.errors import ApplicationError
from governance.models import AccessGroup, Tenant
from governance.services import Actor

ACTOR = Actor(label="manage.py intents")


class Command(BaseCommand):
    help = "List, label, retrain, evaluate, activate and roll back a tenant's intent router."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", required=True, help="The workspace's slug.")
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="Intents, example counts and model versions.")
        add_example = actions.add_parser("add-example", help="Label a message.")
        add_example.add_argument("text")
        add_example.add_argument("--label", required=True, help="A built-in route or one of your intents.")
        actions.add_parser("remove-example", help="Remove an example.").add_argument("id", type=int)
        add_intent = actions.add_parser("add-intent", help="Add an intent with a reply or a target group.")
        add_intent.add_argument("name")
        target = add_intent.add_mutually_exclusive_group(required=True)
        target.add_argument("--reply", help="Answer the intent's messages with this text (no LLM).")
        target.add_argument("--group", help="Search only this access group's documents.")
        retrain = actions.add_parser("retrain", help="Train a new candidate version.")
        retrain.add_argument("--wait", action="store_true", help="Train here and now, print the evaluation.")
        actions.add_parser("show", help="A version's evaluation.").add_argument("number", type=int)
        actions.add_parser("activate", help="Make a version the router.").add_argument("number", type=int)
        actions.add_parser("rollback", help="Reactivate the version active before.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No workspace with slug '{options['tenant']}'.")
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(tenant, options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _list(self, tenant: Tenant, options: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(intent_summary(tenant=tenant), indent=2))
        for version in intent_model_list(tenant=tenant):
            self.stdout.write(_version_line(version))

    def _add_example(self, tenant: Tenant, options: dict[str, Any]) -> None:
        example = intent_example_add(tenant=tenant, actor=ACTOR, text=options["text"], label=options["label"])
        self.stdout.write(f"Example {example.pk} labelled '{example.label}'.")

    def _remove_example(self, tenant: Tenant, options: dict[str, Any]) -> None:
        intent_example_remove(tenant=tenant, actor=ACTOR, example_id=options["id"])
        self.stdout.write(f"Example {options['id']} removed.")

    def _add_intent(self, tenant: Tenant, options: dict[str, Any]) -> None:
        group = None
        if options["group"] is not None:
            group = AccessGroup.objects.filter(tenant=tenant, name=options["group"]).first()
            if group is None:
                raise CommandError(f"No access group named '{options['group']}'.")
        intent = tenant_intent_add(
            tenant=tenant, actor=ACTOR, name=options["name"], reply=options["reply"] or "", access_group=group
        )
        self.stdout.write(f"Intent '{intent.name}' added; label at least 3 examples with it, then retrain.")

    def _retrain(self, tenant: Tenant, options: dict[str, Any]) -> None:
        version = intent_model_retrain(tenant=tenant, actor=ACTOR, enqueue=not options["wait"])
        if not options["wait"]:
            self.stdout.write(f"Version {version.number} queued for training.")
            return
        intent_model_train_or_fail(version.pk)
        self._show(tenant, {"number": version.number})

    def _show(self, tenant: Tenant, options: dict[str, Any]) -> None:
        version = intent_model_get(tenant=tenant, number=options["number"])
        self.stdout.write(_version_line(version))
        if version.error:
            self.stdout.write(f"Error: {version.error}")
        if version.evaluation:
            self.stdout.write(json.dumps(version.evaluation | {"examples": version.example_counts}, indent=2))
            self.stdout.write(_confusion_table(version.evaluation))
        active = intent_model_list(tenant=tenant).filter(status=IntentModelStatus.ACTIVE).first()
        if version.status == IntentModelStatus.READY:
            compared = _version_line(active) if active else "Tessera's default router"
            self.stdout.write(f"Routing now (until you activate v{version.number}): {compared}")

    def _activate(self, tenant: Tenant, options: dict[str, Any]) -> None:
        version = intent_model_activate(tenant=tenant, actor=ACTOR, number=options["number"])
        self.stdout.write(f"Version {version.number} is now the workspace's router.")

    def _rollback(self, tenant: Tenant, options: dict[str, Any]) -> None:
        previous = intent_model_rollback(tenant=tenant, actor=ACTOR)
        if previous is None:
            self.stdout.write("Rolled back to Tessera's default router.")
        else:
            self.stdout.write(f"Rolled back to version {previous.number}.")


def _version_line(version: IntentModelVersion) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    return (
        f"v{version.number} {version.status}: accuracy {pct(version.accuracy)}, "
        f"out-of-scope recall {pct(version.oos_recall)}, precision {pct(version.oos_precision)}, "
        f"trained in {version.train_seconds if version.train_seconds is not None else '-'} s"
    )


def _confusion_table(evaluation: dict[str, Any]) -> str:
    """The confusion matrix as text: a row per true label, a column per predicted label."""
    labels, matrix = evaluation.get("labels", []), evaluation.get("confusion", [])
    width = max([len(label) for label in labels] + [5])
    lines = ["true \\ predicted".ljust(width) + " " + " ".join(label[:8].rjust(8) for label in labels)]
    lines += [
        label.ljust(width) + " " + " ".join(str(n).rjust(8) for n in row)
        for label, row in zip(labels, matrix, strict=True)
    ]
    return "\n".join(lines)
