"""What ingest tells the apps built on it (it imports none of them): a document's searchable content
or its access changed. Sent by ``ingest.services`` inside the transaction of the change, so what a
receiver writes commits or rolls back with it."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: tenant_id (int), document_ids (list[int]), reason ("delete", "new_version", "reindex",
# "access_groups")
documents_changed = Signal()
