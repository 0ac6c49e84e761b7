"""How well Tessera does its job, measured: the benchmark harness (``manage.py evaluate``,
``evaluate_intent``, ``mixed_set``, ``bench_ingest``), the answer contract and its scoring, the
naive LangChain baseline, and the component benchmarks (``python -m evaluation.bench.*``).

Not part of the product: nothing under ``governance``, ``ingest``, ``retrieval``, ``assistant`` or
``config`` imports it (``tests/test_layering.py``). It is an installed app only so that its
management commands are found; it has no models.
"""
