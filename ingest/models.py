"""Documents, their versions and their chunks (with the stored vectors the indexes derive from)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from governance.models import AccessGroup, TenantOwned


class Document(TenantOwned):
    """A file a tenant uploaded, across its versions. Access groups restrict who may see it."""

    title = models.CharField(max_length=300)
    original_name = models.CharField(max_length=255)
    access_groups = models.ManyToManyField(AccessGroup, related_name="documents", blank=True)
    current_version = models.ForeignKey(
        "DocumentVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-updated_at", "-id")
        indexes = [models.Index(fields=("tenant", "-updated_at"), name="document_tenant_updated")]

    def __str__(self) -> str:
        return self.title


class VersionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PARSING = "parsing", "Parsing"
    CHUNKING = "chunking", "Chunking"
    EMBEDDING = "embedding", "Embedding"
    INDEXING = "indexing", "Indexing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Replaced by a newer version"


IN_PROGRESS = (
    VersionStatus.QUEUED,
    VersionStatus.PARSING,
    VersionStatus.CHUNKING,
    VersionStatus.EMBEDDING,
    VersionStatus.INDEXING,
)

# Where each step starts on a document's progress bar (embedding fills 30-90 as its batches go).
STEP_PERCENT: dict[str, int] = {
    VersionStatus.QUEUED: 0,
    VersionStatus.PARSING: 10,
    VersionStatus.CHUNKING: 20,
    VersionStatus.EMBEDDING: 30,
    VersionStatus.INDEXING: 90,
    VersionStatus.READY: 100,
}


class DocumentVersion(TenantOwned):
    """One uploaded file. Its chunks are searchable only while it is its document's current version."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    kind = models.CharField(max_length=16, blank=True)
    file = models.FileField(upload_to="originals/", max_length=400, blank=True)
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    timings = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("document", "-number")
        constraints = [
            models.UniqueConstraint(fields=("document", "number"), name="version_unique_number"),
        ]
        indexes = [
            models.Index(fields=("tenant", "sha256"), name="version_tenant_sha"),
            models.Index(fields=("tenant", "status"), name="version_tenant_status"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} v{self.number} ({self.status})"

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS

    @property
    def progress_percent(self) -> int:
        """How far indexing has come, 0-100, for a progress bar: each step has its share, and
        embedding (the long one) moves with its batches."""
        if self.status == VersionStatus.EMBEDDING and self.progress_total:
            done = min(self.progress_done, self.progress_total)
            return 30 + (60 * done) // self.progress_total
        return STEP_PERCENT.get(self.status, 0)


class Chunk(TenantOwned):
    """A passage of a version. Its primary key is its id in the tenant's FAISS and BM25 indexes."""

    version = models.ForeignKey(DocumentVersion, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    heading_path = models.JSONField(default=list, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    # float32 little-endian bytes of the L2-normalised embedding; the indexes are rebuilt from these.
    vector = models.BinaryField(null=True, blank=True)
    # the embedder's token vectors (retrieval.late_interaction.pack_tokens), for the reranker;
    # null when the embedder gives none
    token_vectors = models.BinaryField(null=True, blank=True)
    embedding_model = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ("version", "ordinal")
        constraints = [
            models.UniqueConstraint(fields=("version", "ordinal"), name="chunk_unique_ordinal"),
        ]
        indexes = [models.Index(fields=("tenant", "content_hash"), name="chunk_tenant_hash")]

    def __str__(self) -> str:
        return f"chunk {self.pk} of version {self.version_id}"

    def keyword_text(self) -> str:
        """What BM25 indexes for this chunk (see ``keyword_text``)."""
        return keyword_text(self.version.document.title, self.heading_path, self.text)


def keyword_text(title: str, heading_path: list[str] | None, text: str) -> str:
    """What BM25 indexes: the document's title and the heading path, as the embedder sees them in
    its prefix, then the text (a title word is often the best keyword of all)."""
    return "\n".join([title, *(heading_path or []), text])


class DocumentDeletion(TenantOwned):
    """The record of a deleted document: when each trace of it was gone. Its rows, its chunks'
    texts and the answers cached from it go in the deleting transaction (``requested_at``); its
    vectors and terms leave the indexes, older index snapshots included, and its original files
    leave the disk in the worker (``ingest.remove_chunks``), which a broker outage delays but
    never loses (the outbox). ``completed_at``: nothing of it is left."""

    document_id = models.BigIntegerField()  # the deleted row's id (no foreign key: it is gone)
    title = models.CharField(max_length=300)
    chunks = models.PositiveIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    requested_at = models.DateTimeField(default=timezone.now)
    indexes_cleared_at = models.DateTimeField(null=True, blank=True)
    files_removed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["tenant", "document_id"], name="deletion_document")]

    def __str__(self) -> str:
        return f"deletion of {self.title!r} (document {self.document_id})"
