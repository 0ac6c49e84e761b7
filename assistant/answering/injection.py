"""Sentences inside documents that give orders to the assistant (prompt injection) are withheld from
the prompt: the LLM never reads them, so it cannot obey them.

The prompt also says that passages are data, never instructions; a small model does not always
listen (Qwen2.5-Coder-1.5B answered "PWNED" when a passage told it to), hence this filter in code.
The patterns are deliberately narrow (orders addressed to an AI or about its instructions), so that
ordinary imperative text in documents ("Submit receipts within thirty days") is kept.
"""

from __future__ import annotations

import re

_ORDERS = re.compile(
    r"""
      \b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}
          \b(?:instructions?|rules|prompts?|guidelines|directions)\b
    | \b(?:reply|respond|answer|output)\b(?:\s+\w+){0,3}?\s+(?:only|exactly|just)\s+
          (?:with\b|the\s+(?:word|words|text|following)\b)
    | \b(?:answer|reply\ to|respond\ to)\s+(?:every|all|any)\s+questions?\s+with\b
    | \bsystem\s+prompt\b
    | ^\W*(?:system|assistant|developer)\s*:
    | \b(?:note|message|instructions?|reminder)\s+(?:to|for)\s+(?:the\s+|any\s+)?
          (?:ai|a\.i\.|assistant|llm|language\s+model|model|chatbot|bot)\b
    | \b(?:the\s+)?(?:rules|instructions)\s+(?:above|before|you\s+were\s+given)\b
    | \byou\s+(?:are|must)\s+now\b
    | \bnew\s+instructions?\s*:
    | \b(?:repeat|print|reveal|show|display|dump|leak|output|recite|tell\s+me|list)\b[^.!?\n]{0,30}?
          \b(?:your|the\s+(?:hidden|secret|internal|original|initial))\s+(?:\w+\s+)?
          (?:instructions|prompt|rules|guidelines|configuration|secrets)\b
    """,
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)


def gives_orders_to_the_assistant(sentence: str) -> bool:
    """True for a sentence that addresses the assistant or its instructions (an injection attempt)."""
    return _ORDERS.search(sentence) is not None
