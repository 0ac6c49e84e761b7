"""Ingestion: upload -> validate -> store -> parse -> chunk -> embed -> index, in Celery tasks.

Documents and chunks carry their tenant and access groups (see the ingestion issue).
"""
