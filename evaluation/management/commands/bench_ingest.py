"""Measure ingestion throughput end to end (upload -> parse -> chunk -> embed -> index).

Runs in a throwaway data directory with its own SQLite database, so it never touches the
installation it is started from. Prints one JSON object (the last line of standard output).

    python manage.py bench_ingest --corpus ../shared/bench/scifact/corpus.jsonl
    python manage.py bench_ingest --mixed 60
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

GROUP = 64  # as `manage.py ingest`


class Command(BaseCommand):
    help = "Ingestion throughput (chunks/s, tokens/s, MB/s) and the share of time spent outside embedding."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--corpus", type=Path, help="a BEIR corpus.jsonl: each record becomes a document")
        parser.add_argument("--mixed", type=int, default=0, help="also N generated PDF/DOCX/HTML files")
        parser.add_argument("--limit", type=int, default=0, help="use only the first N corpus records")
        parser.add_argument("--embedder", default="auto", help="auto, onnx, torch or fake")
        parser.add_argument("--json", type=Path, help="also write the result here")
        parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["inner"]:
            self._spawn(options)
            return
        call_command("migrate", verbosity=0)
        files = _corpus_files(options["corpus"], options["limit"]) if options["corpus"] else []
        files += _mixed_files(options["mixed"]) if options["mixed"] else []
        result = _run(files)
        line = json.dumps(result)
        if options["json"]:
            options["json"].write_text(line + "\n")
        self.stdout.write(line)

    def _spawn(self, options: dict[str, Any]) -> None:
        """Re-run this command in a fresh data directory and database, inheriting the terminal."""
        with tempfile.TemporaryDirectory(prefix="tessera-bench-") as scratch:
            env = {
                **os.environ,
                "TESSERA_DATA_DIR": scratch,
                "DATABASE_URL": f"sqlite:///{scratch}/bench.sqlite3",
                "TESSERA_EMBEDDER": options["embedder"],
                "TESSERA_MODELS_DIR": str(settings.TESSERA["MODELS_DIR"]),
                "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only",
                "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
            }
            argv = [
                sys.executable,
                "manage.py",
                "bench_ingest",
                "--inner",
                "--mixed",
                str(options["mixed"]),
                "--limit",
                str(options["limit"]),
            ]
            if options["corpus"]:
                argv += ["--corpus", str(options["corpus"].resolve())]
            if options["json"]:
                argv += ["--json", str(options["json"].resolve())]
            completed = subprocess.run(argv, cwd=settings.BASE_DIR, env=env, check=False)  # noqa: S603
            if completed.returncode:
                raise SystemExit(completed.returncode)


def _corpus_files(corpus: Path, limit: int) -> list[tuple[str, bytes]]:
    files = []
    with corpus.open() as handle:
        for line in handle:
            record = json.loads(line)
            text = f"# {record.get('title') or record['_id']}\n\n{record.get('text', '')}\n"
            files.append((f"{record['_id']}.md", text.encode()))
            if limit and len(files) >= limit:
                break
    return files


def _mixed_files(count: int) -> list[tuple[str, bytes]]:
    """Generated PDF, DOCX and HTML files of a few pages each (needs the dev requirements)."""
    from evaluation.bench.documents import make_pdf

    files: list[tuple[str, bytes]] = []
    for i in range(count):
        lines = [
            f"Paragraph {j} of report {i}: revenue, staffing and the travel policy for region {j}."
            for j in range(40)
        ]
        if i % 3 == 0:
            files.append((f"report-{i}.pdf", make_pdf([lines[:20], lines[20:]], title=f"Report {i}")))
        elif i % 3 == 1:
            files.append((f"guide-{i}.docx", _docx(f"Guide {i}", lines)))
        else:
            body = "".join(f"<h2>Part {j}</h2><p>{line}</p>" for j, line in enumerate(lines))
            html = f"<html><head><title>Page {i}</title></head><body><h1>Page {i}</h1>{body}</body></html>"
            files.append((f"page-{i}.html", html.encode()))
    return files


def _docx(title: str, lines: list[str]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for j, line in enumerate(lines):
        if j % 10 == 0:
            document.add_heading(f"Section {j // 10}", level=2)
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _warm_up_parsers(files: list[tuple[str, bytes]]) -> None:
    """Parse the first file of each kind once, untimed and unstored: importing the parsers and their
    first-use caches is paid once per worker process, not per document, like loading the model."""
    from ingest.parsing import ParseError, parse_document
    from ingest.pipeline import parse_limits

    seen: set[str] = set()
    for name, data in files:
        suffix = Path(name).suffix
        if suffix not in seen:
            seen.add(suffix)
            with contextlib.suppress(ParseError):
                parse_document(data, name, limits=parse_limits())


def _run(files: list[tuple[str, bytes]]) -> dict[str, Any]:
    from config.engines import get_embedder
    from governance.services import Actor, tenant_create
    from ingest import pipeline, services
    from ingest.flush import flush_tenant
    from ingest.models import DocumentVersion
    from ingest.services import Upload

    tenant = tenant_create(slug="bench", name="Benchmark")
    embedder = get_embedder()
    embedder.embed_documents(["warm up"])  # model load is not ingestion
    _warm_up_parsers(files)
    started = time.perf_counter()
    upload_s = 0.0
    for start in range(0, len(files), GROUP):
        ids = []
        for name, data in files[start : start + GROUP]:
            t0 = time.perf_counter()
            version = services.document_upload(
                tenant=tenant, actor=Actor(label="bench"), upload=Upload(name, data), enqueue=False
            )
            upload_s += time.perf_counter() - t0
            ids.append(version.pk)
        # As `manage.py ingest` does: one embedding pass per group, one index write at the end.
        pipeline.index_versions(ids, flush=False)
    t0 = time.perf_counter()
    flush_tenant(tenant.pk)
    flush_s = time.perf_counter() - t0
    total = time.perf_counter() - started
    versions = list(DocumentVersion.objects.filter(tenant=tenant))
    stages = ("parse", "chunk", "embed", "store_vectors")
    stage = {key: sum(v.timings.get(key, 0.0) for v in versions) for key in stages}
    chunks, tokens = sum(v.chunk_count for v in versions), sum(v.token_count for v in versions)
    megabytes = sum(len(data) for _, data in files) / 1e6
    embed = stage["embed"]
    return {
        "embedder": embedder.model_id,
        "documents": len(files),
        "ready": sum(v.status == "ready" for v in versions),
        "chunks": chunks,
        "tokens": tokens,
        "megabytes": round(megabytes, 3),
        "seconds": round(total, 2),
        "chunks_per_s": round(chunks / total, 2),
        "tokens_per_s": round(tokens / total, 1),
        "mb_per_s": round(megabytes / total, 4),
        "embed_seconds": round(embed, 2),
        "stage_seconds": {
            **{k: round(v, 2) for k, v in stage.items()},
            "upload": round(upload_s, 2),
            "index_flush": round(flush_s, 2),
        },
        "outside_embedding_share": round((total - embed) / embed, 4) if embed else None,
    }
