"""One normal form for written and heard words: what makes ``14`` and ``fourteen``, ``litres`` and
``liters``, ``Thirty-eight`` and ``38`` the same word.

Used by the article-to-transcript alignment and, through :func:`normalising_analyzer`, by the index,
so that a search finds either form in articles and in audio.
"""

from __future__ import annotations

import re
from functools import lru_cache

from whoosh.analysis import Filter

_NUMBER = re.compile(r"^(\d+(?:,\d{3})*(?:\.\d+)?)(%|st|nd|rd|th|s)?$")
EDGE_PUNCTUATION = "\"'“”‘’()[]{}.,;:!?…*«»<>"
_SPLIT = re.compile(r"[-–—/]+")


@lru_cache(maxsize=65536)
def normal_forms(word: str) -> tuple[str, ...]:
    """The normalised tokens of one written or heard word.

    Lower case, no punctuation or apostrophes, hyphenated words split, numbers spelled out with
    num2words (``38`` -> ``thirty eight``, ``14%`` -> ``fourteen percent``), British spellings made
    American with breame (``litres`` -> ``liters``). ``()`` for a word that is only punctuation.
    """
    from breame.spelling import get_american_spelling
    from num2words import num2words

    text = word.strip().replace("’", "'").strip(EDGE_PUNCTUATION)
    forms: list[str] = []
    for part in _SPLIT.split(text):
        part = part.strip(EDGE_PUNCTUATION)
        if not part:
            continue
        number = _NUMBER.match(part)
        if number:
            digits, suffix = number.group(1).replace(",", ""), number.group(2)
            try:
                value = float(digits) if "." in digits else int(digits)
                spoken = num2words(value, to="ordinal") if suffix in ("st", "nd", "rd", "th") else num2words(value)
            except (OverflowError, ValueError, NotImplementedError):
                spoken = digits
            forms.extend(re.findall(r"[a-z0-9]+", spoken.lower()))
            if suffix == "%":
                forms.append("percent")
            continue
        for piece in re.findall(r"[^\W_]+(?:'[^\W_]+)*", part.lower()):
            forms.append(get_american_spelling(piece.replace("'", "")))
    return tuple(forms)


# Words as the index's tokenizer sees them: digits keep their thousands separators, decimals and a
# trailing percent sign, so that normal_forms reads "1,000", "3.5" and "14%" as numbers.
TOKEN_PATTERN = r"\w+(?:[.,'’]\w+)*%?"


def normalising_analyzer():
    """A Whoosh analyzer: words lower-cased, put in their normal forms, stop words dropped, stemmed.

    ``38`` becomes ``thirty eight`` at consecutive positions, so the phrase "38 million" matches
    "thirty-eight million" and the other way round.
    """
    from whoosh.analysis import RegexTokenizer, StemFilter, StopFilter

    return RegexTokenizer(TOKEN_PATTERN) | NormalFormsFilter() | StopFilter() | StemFilter()


class NormalFormsFilter(Filter):
    """Replaces each token by its :func:`normal_forms`, renumbering positions after it."""

    def __eq__(self, other):
        return other is not None and self.__class__ is other.__class__

    def __call__(self, tokens):
        shift = 0
        for token in tokens:
            forms = normal_forms(token.text)
            if not forms:
                shift -= 1
                continue
            base = token.pos if token.positions else 0
            for k, form in enumerate(forms):
                token.text = form
                if token.positions:
                    token.pos = base + shift + k
                yield token
            shift += len(forms) - 1
