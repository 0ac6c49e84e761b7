"""The transactional outbox: Celery tasks that must run once a transaction commits (``config.outbox``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxTask(models.Model):
    """One Celery task to send: written in the transaction whose commit calls for it, so that it is
    sent if and only if that transaction commits, however long the broker is away."""

    task = models.CharField(max_length=100)  # the Celery task's name, e.g. "ingest.index_version"
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    # Pending until the broker took it; done once a worker finished it (or gave up on it for good).
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # tries to hand it to the broker
    sends = models.PositiveIntegerField(default=0)  # times the broker took it
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["done_at", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} #{self.pk}"
