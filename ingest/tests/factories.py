"""factory_boy factories for documents."""

from __future__ import annotations

import factory

from governance.tests.factories import TenantFactory
from ingest.models import Document, DocumentVersion, VersionStatus


class DocumentFactory(factory.django.DjangoModelFactory[Document]):
    class Meta:
        model = Document

    tenant = factory.SubFactory(TenantFactory)
    title = factory.Sequence(lambda n: f"Document {n}")
    original_name = factory.LazyAttribute(lambda d: f"{d.title}.txt")


class DocumentVersionFactory(factory.django.DjangoModelFactory[DocumentVersion]):
    class Meta:
        model = DocumentVersion

    document = factory.SubFactory(DocumentFactory)
    tenant = factory.SelfAttribute("document.tenant")
    number = factory.Sequence(lambda n: n + 1)
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size_bytes = 10
    status = VersionStatus.QUEUED
