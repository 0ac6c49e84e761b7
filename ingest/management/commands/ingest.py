"""Bulk-load files into a tenant: `manage.py ingest PATH [PATH ...] --tenant SLUG`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.errors import ApplicationError, Conflict
from governance.models import AccessGroup, Tenant
from governance.services import Actor
from ingest import pipeline, services
from ingest.models import DocumentVersion, VersionStatus
from ingest.services import Upload, UploadRejected

GROUP = 64  # files embedded together and indexed in one write


class Command(BaseCommand):
    help = "Ingest files or folders into a tenant, with progress and a summary; exits 1 if any failed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument(
            "--access-group",
            action="append",
            default=[],
            dest="groups",
            help="restrict the documents to this group (repeatable)",
        )
        parser.add_argument("--recursive", action="store_true", help="descend into sub-folders")
        parser.add_argument(
            "--background",
            action="store_true",
            help="queue the indexing for the Celery workers instead of running it here",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug '{options['tenant']}'.")
        groups = list(AccessGroup.objects.filter(tenant=tenant, name__in=options["groups"]))
        missing = set(options["groups"]) - {g.name for g in groups}
        if missing:
            raise CommandError(f"Unknown access groups in '{tenant.slug}': {', '.join(sorted(missing))}.")
        files = _collect(options["paths"], recursive=options["recursive"])
        if not files:
            raise CommandError("No files found (use --recursive for sub-folders).")
        started = time.perf_counter()
        outcome = _Outcome()
        progress = tqdm(total=len(files), unit="file", disable=options["verbosity"] < 1)
        actor = Actor(label="cli:ingest")
        for group in _groups(files, GROUP):
            versions = [
                _upload(tenant, actor, path, groups, outcome, enqueue=options["background"]) for path in group
            ]
            accepted = {v.pk: path for v, path in zip(versions, group, strict=True) if v is not None}
            if accepted and not options["background"]:
                # One embedding pass per group (small files batch together), one index write per group.
                statuses = pipeline.index_versions(list(accepted))
                for version_id, status in statuses.items():
                    if status == VersionStatus.FAILED:
                        reason = DocumentVersion.objects.get(pk=version_id).error_message
                        outcome.failures.append((str(accepted[version_id]), reason))
            progress.update(len(group))
        progress.close()
        self._summarise(outcome, files, time.perf_counter() - started, background=options["background"])
        if outcome.failures:
            raise SystemExit(1)

    def _summarise(self, outcome: _Outcome, files: list[Path], seconds: float, *, background: bool) -> None:
        versions = DocumentVersion.objects.filter(pk__in=outcome.version_ids)
        chunks = sum(v.chunk_count for v in versions)
        tokens = sum(v.token_count for v in versions)
        self.stdout.write(
            f"files: {len(files)}  accepted: {len(outcome.version_ids)}  duplicates skipped: "
            f"{outcome.duplicates}  failed: {len(outcome.failures)}"
        )
        if not background:
            rate = chunks / seconds if seconds else 0.0
            self.stdout.write(
                f"chunks: {chunks}  tokens: {tokens}  seconds: {seconds:.1f}  chunks/s: {rate:.1f}"
            )
        else:
            self.stdout.write("indexing was queued for the workers (see the documents page for progress)")
        for name, reason in outcome.failures:
            self.stderr.write(f"FAILED {name}: {reason}")


class _Outcome:
    def __init__(self) -> None:
        self.version_ids: list[int] = []
        self.duplicates = 0
        self.failures: list[tuple[str, str]] = []


def _groups(items: list[Path], size: int) -> list[list[Path]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _collect(paths: list[Path], *, recursive: bool) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            candidates = path.rglob("*") if recursive else path.iterdir()
            found.extend(p for p in sorted(candidates) if p.is_file() and not p.name.startswith("."))
        else:
            raise CommandError(f"No such file or folder: {path}")
    return found


def _upload(
    tenant: Tenant, actor: Actor, path: Path, groups: list[AccessGroup], outcome: _Outcome, *, enqueue: bool
) -> DocumentVersion | None:
    try:
        version = services.document_upload(
            tenant=tenant,
            actor=actor,
            upload=Upload(name=path.name, data=path.read_bytes()),
            access_groups=groups,
            enqueue=enqueue,
        )
    except Conflict:
        outcome.duplicates += 1
        return None
    except (UploadRejected, ApplicationError) as exc:
        outcome.failures.append((str(path), exc.message))
        return None
    outcome.version_ids.append(version.pk)
    return version
