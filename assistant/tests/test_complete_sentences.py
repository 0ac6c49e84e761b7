"""What an answer stopped at the length limit keeps: its whole sentences and their citation markers."""

from __future__ import annotations

import pytest

from assistant.answering.generate import complete_sentences


@pytest.mark.parametrize(
    ("cut", "kept"),
    [
        ("Paid out. [2] The unused credit hours will not [2]", "Paid out. [2]"),
        ("Steps:\n1. Clean the pad. [1]\n2. **Wipe", "Steps:\n1. Clean the pad. [1]"),
        ("Done. [3]", "Done. [3]"),
        ("All good.", "All good."),
        ("A maximum of 240 [1]", ""),  # not one sentence finished
        ("", ""),
    ],
)
def test_an_answer_cut_in_mid_sentence_keeps_its_whole_sentences(cut, kept):
    assert complete_sentences(cut) == kept
