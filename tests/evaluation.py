"""Word error rate of a transcript against a reference text, as the tests and benchmarks measure it."""

from __future__ import annotations

import re


def normalise(text: str) -> str:
    """Lower case without punctuation, so that an error rate counts words and not commas."""
    text = text.lower().replace("’", "'").replace("–", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against ``reference`` after :func:`normalise` (needs jiwer)."""
    try:
        import jiwer
    except ImportError as e:
        raise ImportError("word error rates need jiwer: pip install 'indexer[test]'") from e
    return jiwer.wer(normalise(reference), normalise(hypothesis))
