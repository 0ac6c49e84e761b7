"""A question's answer: one pipeline (``pipeline.py``) of named steps, each in its own module:
route (``assistant.routing``), retrieve (``search``), decide (``decide``), cache (``cache``), compose
(``compose``), generate (``generate``, with ``llm/``), verify (``verify``), persist (``pipeline``)."""
