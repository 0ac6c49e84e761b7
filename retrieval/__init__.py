"""Retrieval: plain Python with no Django imports.

Embedder, per-tenant FAISS index, BM25, fusion, reranker, intent router and answerability check,
each a small class with a narrow interface and a deterministic fake for unit tests.
"""
