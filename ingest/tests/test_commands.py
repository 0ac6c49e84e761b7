"""`manage.py ingest` and its summary; a non-zero exit only when something failed."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from governance.tests.factories import AccessGroupFactory, TenantFactory
from ingest.models import Document, VersionStatus
from ingest.tests.builders import make_docx, make_pdf

pytestmark = pytest.mark.django_db


def _folder(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "handbook.md").write_bytes(b"# Handbook\n\nWelcome to the company.")
    (root / "policy.pdf").write_bytes(make_pdf([["Travel policy."]]))
    (root / "sub" / "guide.docx").write_bytes(make_docx())
    return root


def test_ingest_folder_recursively(tmp_path, capsys):
    tenant = TenantFactory()
    group = AccessGroupFactory(tenant=tenant, name="hr")
    call_command("ingest", str(_folder(tmp_path)), tenant=tenant.slug, recursive=True, groups=["hr"])
    out = capsys.readouterr().out
    assert "files: 3  accepted: 3" in out and "failed: 0" in out and "chunks/s" in out
    documents = Document.objects.filter(tenant=tenant)
    assert documents.count() == 3
    assert all(d.current_version.status == VersionStatus.READY for d in documents)
    assert all(list(d.access_groups.all()) == [group] for d in documents)


def test_ingest_without_recursive_skips_subfolders_and_duplicates(tmp_path, capsys):
    tenant = TenantFactory()
    folder = _folder(tmp_path)
    call_command("ingest", str(folder), tenant=tenant.slug)
    call_command("ingest", str(folder), tenant=tenant.slug)
    out = capsys.readouterr().out
    assert "files: 2  accepted: 2" in out and "duplicates skipped: 2" in out


def test_ingest_reports_failures_and_exits_1(tmp_path, capsys):
    tenant = TenantFactory()
    folder = _folder(tmp_path)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage")
    with pytest.raises(SystemExit) as exit_info:
        call_command("ingest", str(folder), tenant=tenant.slug)
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "failed: 1" in captured.out and "broken.pdf" in captured.err
    assert Document.objects.filter(tenant=tenant, current_version__status=VersionStatus.READY).count() == 2


def test_ingest_unknown_tenant_or_group(tmp_path):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("ingest", str(tmp_path), tenant="nope")
    tenant = TenantFactory()
    with pytest.raises(CommandError, match="Unknown access groups"):
        call_command("ingest", str(tmp_path), tenant=tenant.slug, groups=["ghosts"])
