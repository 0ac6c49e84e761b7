"""A tenant's answers in figures: the share given without an LLM call, by route, and the LLM's cost.

python manage.py usage --tenant SLUG [--days N] [--json]
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.usage.ledger import Usage, usage_of, window_start
from governance.models import Tenant


class Command(BaseCommand):
    help = "How many answers needed no LLM call (by route), tokens and estimated cost, for one tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument(
            "--days",
            type=int,
            default=0,
            help="only the last N calendar days, today included, as the usage page counts (default: all)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug '{options['tenant']}'.")
        if options["days"] < 0:
            raise CommandError("--days must be 0 (all) or more.")
        since = window_start(options["days"]) if options["days"] else None
        usage = usage_of(tenant, since=since)
        if options["json"]:
            self.stdout.write(json.dumps(usage.as_dict()))
        else:
            self.stdout.write(_table(usage))


def _table(usage: Usage) -> str:
    share = "-" if usage.share_without_llm is None else f"{usage.share_without_llm:.1%}"
    saved = (
        "nothing to estimate from yet (no LLM call)"
        if usage.tokens_saved_estimate is None
        else f"~{usage.tokens_saved_estimate:,} tokens, ~${usage.cost_saved_estimate_usd:.4f}"
    )
    lines = [
        f"Tenant '{usage.tenant}'" + (f" since {usage.since}" if usage.since else "") + ":",
        f"  answers {usage.answers:,}, without an LLM call {usage.without_llm:,} ({share})",
        f"  LLM calls {usage.llm_calls:,}: {usage.prompt_tokens:,} prompt + "
        f"{usage.completion_tokens:,} completion tokens, ${usage.cost_usd:.4f}",
        f"  saved by the calls not made: {saved}",
        f"  answer cache: {usage.cache_hits:,} hits, {usage.cache_tokens_saved:,} tokens and "
        f"${usage.cache_cost_saved_usd:.4f} saved",
        "  by route:",
    ]
    for route in usage.routes:
        kinds = ", ".join(f"{kind or '-'} {n}" for kind, n in sorted(route.by_kind.items()))
        lines.append(f"    {route.route}: {route.answers} answers, {route.without_llm} without LLM ({kinds})")
    return "\n".join(lines)
