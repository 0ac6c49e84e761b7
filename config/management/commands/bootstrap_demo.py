"""Create the demo tenant and its admin once; print how to sign in. Safe to run again."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import BaseCommand
from django.db import transaction

from governance import services
from governance.models import Role, Tenant


class Command(BaseCommand):
    help = "Create the demo tenant and admin (TESSERA_DEMO_USER / TESSERA_DEMO_PASSWORD), idempotently."

    def handle(self, *args: Any, **options: Any) -> None:
        slug = settings.TESSERA["DEMO_TENANT_SLUG"]
        username = os.environ.get("TESSERA_DEMO_USER", "admin")
        credentials_file = settings.DATA_DIR / "demo-credentials.txt"
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug=slug).first() or services.tenant_create(
                slug=slug, name="Demo Company"
            )
            user: AbstractBaseUser | None = get_user_model().objects.filter(username=username).first()
            if user is None:
                password = os.environ.get("TESSERA_DEMO_PASSWORD") or secrets.token_urlsafe(12)
                user = services.user_create(username=username, password=password, superuser=True)
                credentials_file.write_text(f"{username}\n{password}\n")
                credentials_file.chmod(0o600)
            services.membership_set(tenant=tenant, user=user, role=Role.OWNER)
        self._sample_document(tenant, user)
        shown = (
            credentials_file.read_text().split() if credentials_file.exists() else [username, "(unchanged)"]
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo tenant '{tenant.name}' ({tenant.slug}). Sign in as {shown[0]} / {shown[1]}"
            )
        )

    def _sample_document(self, tenant: Tenant, user: Any) -> None:
        """A sample handbook in a new demo workspace, so the first question has something to answer
        from (queued: the worker beside the web server indexes it when `serve` starts)."""
        from ingest.models import Document
        from ingest.services import Upload, document_upload

        if Document.objects.filter(tenant=tenant).exists():
            return
        sample = Path(__file__).resolve().parents[2] / "demo" / "employee-handbook.md"
        document_upload(
            tenant=tenant,
            actor=services.Actor(user_id=user.pk, label=user.get_username()),
            upload=Upload(sample.name, sample.read_bytes()),
        )
        self.stdout.write("Queued a sample document (demo/employee-handbook.md): ask about parental leave.")
