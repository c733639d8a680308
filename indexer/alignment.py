"""Aligning an article's words with the timed words of audio that reads or quotes it.

Both sides are normalised the same way (:func:`indexer.normalise.normal_forms`: case, punctuation, numbers spelled
out, British spellings made American) and aligned globally with rapidfuzz's Levenshtein opcodes over
the token lists. A global alignment pairs *some* word with almost every article word, so only
confident stretches are used:

    An article token is aligned when it lies in a window of ``WINDOW`` consecutive article tokens of
    which at least ``MIN_EXACT`` match a heard token exactly, and whose matched heard tokens lie
    within ``WINDOW + SLACK`` consecutive heard tokens. A stretch of aligned tokens starts and ends
    with exact matches.

Mismatched words are paired in groups (consecutive mismatches within a paragraph and a heard
sentence, up to ``MAX_WRITTEN_WORDS`` written words and ``HEARD_PER_WRITTEN`` heard words for each),
inside a stretch, or just outside one where the group opens or closes a paragraph at a heard
sentence boundary, or lies between two exact matches (see :func:`_opens_or_closes`).

Audio that reads the article aligns over long stretches, a podcast that quotes it only where it
quotes, unrelated audio (or another language) nowhere. Inside stretches, article words paired with
heard words that differ give the index the article's spelling for the heard word
(:attr:`Alignment.corrections`), and each paragraph that is spoken knows where
(:meth:`Alignment.heard_at`).

:class:`Alignment` is also what the library gives for an indexed pair (:meth:`indexer.Index.alignment`):
its :class:`Correspondence` groups, :class:`Stretch` runs and :class:`HeardParagraph` spans.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional, Sequence

from .models import Segment, Transcript
from .normalise import EDGE_PUNCTUATION as _EDGE_PUNCTUATION
from .normalise import normal_forms

WINDOW = 8
MIN_EXACT = 5
SLACK = 4
# A mismatch longer than this is a paraphrase, not a mishearing: up to 3 written words, each of
# which the recogniser may have split into 3 ("Chukwuemeka Nkemelu": "Chuck will you make a rent cameo").
MAX_WRITTEN_WORDS = 3
HEARD_PER_WRITTEN = 3
# A paragraph counts as heard when this many of its tokens are aligned (or all of them, if fewer).
MIN_HEARD_TOKENS = 6
_SENTENCE_END = re.compile(r"[.?!…][\"'”’)\]]*$")
# A heard word that continues a number ("9" ",000": Whisper splits thousands).
_NUMBER_TAIL = re.compile(r"^[.,]\d")


@dataclass(frozen=True)
class ArticleWord:
    """A word as the article writes it; ``paragraph`` is -1 for the title, ``position`` the word's
    place in its paragraph (or the title), counting words split on white space from 0."""

    paragraph: int
    text: str
    position: int = 0


@dataclass(frozen=True)
class HeardWord:
    """A recognised word and where it sits in the transcript."""

    segment: int
    index: int
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Correspondence:
    """Article words and the heard words they align with, inside a confident stretch.

    Attributes:
      paragraph: the article paragraph of the words (-1: the title).
      article: the article's spelling of the group (punctuation at its ends removed).
      heard: the heard words as recognised, with their times and places in the transcript.
      same: true when both normalise to the same tokens (``14`` and ``fourteen``), false when the
        recogniser heard something else (``Ashikov`` for ``Ushakov``).
      position: where the group's first word is in its paragraph (:attr:`ArticleWord.position`).
    """

    paragraph: int
    article: str
    heard: tuple[HeardWord, ...]
    same: bool
    position: int = 0

    @property
    def start(self) -> float:
        return self.heard[0].start

    @property
    def end(self) -> float:
        return self.heard[-1].end

    @property
    def differs(self) -> bool:
        """Whether the article spells this differently from what was heard (beyond case and punctuation)."""
        return _plain(self.article) != _plain(" ".join(w.text for w in self.heard))

    def to_dict(self) -> dict:
        return {
            "paragraph": self.paragraph,
            "position": self.position,
            "article": self.article,
            "heard": [{"word": w.text, "start": w.start, "end": w.end} for w in self.heard],
            "same": self.same,
        }


@dataclass(frozen=True)
class Stretch:
    """A confidently aligned run of the article (the rule in the module docstring).

    Attributes:
      first_paragraph, last_paragraph: the paragraphs it runs from and to (-1: the title).
      article: the article's words in the stretch, as written.
      heard: the heard words they align with, as recognised.
      start, end: where in the audio, in seconds of the file's timeline.
      tokens, exact: normalised article tokens in the stretch, and how many of them were heard exactly.
    """

    first_paragraph: int
    last_paragraph: int
    article: str
    heard: str
    start: float
    end: float
    tokens: int
    exact: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class HeardParagraph:
    """Where an article paragraph is spoken: ``aligned`` of its ``tokens`` lie in stretches."""

    paragraph: int
    start: float
    end: float
    aligned: int
    tokens: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Alignment:
    """How one article aligns with one transcript.

    Attributes:
      correspondences: every group of article words paired with heard words inside (or at the edges
        of) confident stretches, in article order; :attr:`corrections` are those heard differently.
      stretches: the confidently aligned runs, in article order; none when the audio neither reads
        nor quotes the article.
      article_tokens, aligned_tokens: the article's normalised tokens, and how many lie in stretches.
      article_id, audio_id, audio: the pair's source ids and the audio's location, when the alignment
        comes from the index (:meth:`indexer.Index.alignment`); empty otherwise.
      embedded: whether the article embeds the audio (only such pairs are aligned when ingested).
    """

    correspondences: list[Correspondence] = field(default_factory=list)
    article_tokens: int = 0
    aligned_tokens: int = 0
    stretches: list[Stretch] = field(default_factory=list)
    article_id: str = ""
    audio_id: str = ""
    audio: str = ""
    embedded: bool = False
    # paragraph -> (aligned token count, token count, first start, last end)
    _paragraphs: dict[int, tuple[int, int, float, float]] = field(default_factory=dict, repr=False)

    @property
    def corrections(self) -> list[Correspondence]:
        """Correspondences where the article's spelling differs from what was heard."""
        return [c for c in self.correspondences if c.differs]

    def heard_at(self, paragraph: int) -> Optional[tuple[float, float]]:
        """``(start, end)`` in the audio where ``paragraph`` is spoken, or None if it is not."""
        found = self._paragraphs.get(paragraph)
        if not found:
            return None
        aligned, total, start, end = found
        if aligned < min(MIN_HEARD_TOKENS, total):
            return None
        return start, end

    def paragraphs_heard(self) -> dict[int, tuple[float, float]]:
        """Paragraph -> ``(start, end)`` for every paragraph that is spoken (the title left out)."""
        return {p: span for p in self._paragraphs if p >= 0 and (span := self.heard_at(p)) is not None}

    @property
    def heard(self) -> list[HeardParagraph]:
        """The paragraphs that are spoken, in article order (the title left out): what ``heard_at``
        on an article hit gives, with how much of each paragraph aligned."""
        found = []
        for p, (start, end) in sorted(self.paragraphs_heard().items()):
            aligned, tokens = self._paragraphs[p][:2]
            found.append(HeardParagraph(p, start, end, aligned, tokens))
        return found

    def to_dict(self) -> dict:
        """The JSON form (``indexer align --json``)."""
        return {
            "article_id": self.article_id,
            "audio_id": self.audio_id,
            "audio": self.audio,
            "embedded": self.embedded,
            "article_tokens": self.article_tokens,
            "aligned_tokens": self.aligned_tokens,
            "heard_at": [h.to_dict() for h in self.heard],
            "stretches": [s.to_dict() for s in self.stretches],
            "words": [c.to_dict() for c in self.correspondences],
        }


def _plain(text: str) -> str:
    return " ".join(w.strip(_EDGE_PUNCTUATION) for w in text.lower().replace("’", "'").split())


def article_words(title: str, paragraphs: Sequence[str]) -> list[ArticleWord]:
    words = [ArticleWord(-1, w, k) for k, w in enumerate(title.split())]
    for p, paragraph in enumerate(paragraphs):
        words.extend(ArticleWord(p, w, k) for k, w in enumerate(paragraph.split()))
    return words


def heard_words(segments: Iterable[Segment]) -> list[HeardWord]:
    return [
        HeardWord(s, w, word.word.strip(), word.start, word.end)
        for s, segment in enumerate(segments)
        for w, word in enumerate(segment.words)
    ]


def align(title: str, paragraphs: Sequence[str], transcript: Transcript) -> Alignment:
    """Align an article (title and paragraphs) with a transcript's timed words.

    Transcripts without word times (a publisher's) align nowhere.
    """
    written = article_words(title, paragraphs)
    heard = heard_words(transcript.segments)
    return align_words(written, heard)


def align_words(written: Sequence[ArticleWord], heard: Sequence[HeardWord]) -> Alignment:
    from rapidfuzz.distance import Levenshtein

    a_tokens, a_refs = _tokens([w.text for w in written])
    b_tokens, b_refs = _tokens(_joined_numbers([w.text for w in heard]))
    result = Alignment(article_tokens=len(a_tokens))
    if not a_tokens or not b_tokens:
        return result

    # partner[i]: the heard token aligned with article token i (equal or replaced), or -1.
    partner = [-1] * len(a_tokens)
    exact = [False] * len(a_tokens)
    # links: the alignment as (article tokens, heard tokens, equal) pieces in order.
    links: list[tuple[range, range, bool]] = []
    for op in Levenshtein.opcodes(a_tokens, b_tokens):
        tag, i1, i2, j1, j2 = op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end
        if tag in ("equal", "replace"):
            for k in range(i2 - i1):
                partner[i1 + k], exact[i1 + k] = j1 + k, tag == "equal"
                links.append((range(i1 + k, i1 + k + 1), range(j1 + k, j1 + k + 1), tag == "equal"))
        else:
            links.append((range(i1, i2), range(j1, j2), False))

    confident = _confident(partner, exact)
    result.aligned_tokens = sum(confident)
    result._paragraphs = _paragraph_spans(written, heard, a_refs, b_refs, partner, confident)
    result.stretches = _stretches(written, heard, a_refs, b_refs, partner, exact, confident)
    result.correspondences = _groups(written, heard, a_refs, b_refs, links, confident)
    return result


def _tokens(words: Sequence[str]) -> tuple[list[str], list[int]]:
    """Normal forms, stemmed (``closed`` and ``close`` align), each with the index of its word."""
    from whoosh.lang.porter import stem

    tokens: list[str] = []
    refs: list[int] = []
    for index, word in enumerate(words):
        for form in normal_forms(word):
            tokens.append(stem(form))
            refs.append(index)
    return tokens, refs


def _joined_numbers(words: list[str]) -> list[str]:
    """Heard words with a number's split-off tail joined to its head: ``9`` ``,000`` -> ``9,000`` ``""``."""
    joined = list(words)
    for k in range(len(joined) - 1, 0, -1):
        if _NUMBER_TAIL.match(joined[k]) and joined[k - 1][-1:].isdigit():
            joined[k - 1], joined[k] = joined[k - 1] + joined[k], ""
    return joined


def _paragraph_spans(written, heard, a_refs, b_refs, partner, confident) -> dict[int, tuple[int, int, float, float]]:
    """paragraph -> (aligned tokens, tokens, start, end) in the audio.

    The start is where the paragraph's first word is heard when the words before its first
    confidently aligned one are paired too (a misheard name often opens a paragraph).
    """
    spans: dict[int, tuple[int, int, float, float]] = {}
    first: dict[int, int] = {}  # paragraph -> its first token
    for i, ref in enumerate(a_refs):
        p = written[ref].paragraph
        first.setdefault(p, i)
        aligned, total, start, end = spans.get(p, (0, 0, float("inf"), 0.0))
        if confident[i] and partner[i] >= 0:
            word = heard[b_refs[partner[i]]]
            if aligned == 0:
                start = word.start
                # Earlier tokens of the paragraph paired with earlier heard words, close by.
                for k in range(first[p], i):
                    if 0 <= partner[k] < partner[i] and partner[i] - partner[k] <= (i - k) + SLACK:
                        start = heard[b_refs[partner[k]]].start
                        break
            aligned, end = aligned + 1, max(end, word.end)
        spans[p] = (aligned, total + 1, start, end)
    return {p: span for p, span in spans.items() if span[0]}


def _stretches(written, heard, a_refs, b_refs, partner, exact, confident) -> list[Stretch]:
    """The maximal runs of confident tokens (each starts and ends with an exact match, see :func:`_confident`)."""
    found = []
    i, n = 0, len(confident)
    while i < n:
        if not confident[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and confident[j + 1]:
            j += 1
        a_lo, a_hi = a_refs[i], a_refs[j]
        b_lo, b_hi = b_refs[partner[i]], b_refs[partner[j]]
        found.append(
            Stretch(
                first_paragraph=written[a_lo].paragraph,
                last_paragraph=written[a_hi].paragraph,
                article=" ".join(w.text for w in written[a_lo : a_hi + 1]),
                heard=" ".join(w.text for w in heard[b_lo : b_hi + 1] if w.text),
                start=heard[b_lo].start,
                end=heard[b_hi].end,
                tokens=j - i + 1,
                exact=sum(exact[i : j + 1]),
            )
        )
        i = j + 1
    return found


def _confident(partner: list[int], exact: list[bool]) -> list[bool]:
    """Which article tokens lie in a confident window (the rule in the module docstring).

    An article shorter than a window is one window, held to the same share of exact matches.
    """
    n = len(partner)
    width = min(WINDOW, n)
    needed = -(-MIN_EXACT * width // WINDOW)
    confident = [False] * n
    matches = sum(exact[:width])
    for start in range(n - width + 1):
        stop = start + width
        if start:
            matches += exact[stop - 1] - exact[start - 1]
        if matches < needed:
            continue
        heard = [partner[i] for i in range(start, stop) if exact[i]]
        if heard[-1] - heard[0] + 1 > width + SLACK:
            continue
        for i in range(start, stop):
            confident[i] = True
    # A stretch begins and ends with exact matches: a window reaching past the read text would
    # otherwise pair the next unread words with whatever was said next.
    i = 0
    while i < n:
        if not confident[i]:
            i += 1
            continue
        j = i
        while j < n and confident[j]:
            j += 1
        lo, hi = i, j - 1
        while lo <= hi and not exact[lo]:
            confident[lo] = False
            lo += 1
        while hi >= lo and not exact[hi]:
            confident[hi] = False
            hi -= 1
        i = j
    return confident


def _groups(written, heard, a_refs, b_refs, links, confident) -> list[Correspondence]:
    """Confidently aligned tokens gathered into groups of whole written and heard words.

    Pieces that share a word are one group (``thirty-eight``, two tokens, with ``38``, two tokens),
    and so are consecutive mismatches within a paragraph (``Harbourmaster Siobhan Okonkwo`` with
    ``Harbor Master Shavonakonqua``), since the recogniser's word boundaries need not be the article's.
    """
    groups: list[list] = []  # [article refs, heard refs, all equal, all confident, paragraph]
    for a_range, b_range, equal in links:
        refs_a = {a_refs[i] for i in a_range}
        refs_b = {b_refs[j] for j in b_range}
        sure = all(confident[i] for i in a_range)
        paragraph = written[a_refs[a_range[0]]].paragraph if a_range else None
        last = groups[-1] if groups else None
        shares = last is not None and bool(refs_a & last[0] or refs_b & last[1])
        continues = (
            last is not None
            and not equal
            and not last[2]
            and (paragraph is None or last[4] is None or paragraph == last[4])
            # Nor across a heard sentence end, nor through a long run of words only one side has.
            and not (last[1] and _SENTENCE_END.search(heard[max(last[1])].text))
            and len(a_range) + len(b_range) <= 2 * HEARD_PER_WRITTEN
        )
        if last is not None and (shares or continues):
            last[0] |= refs_a
            last[1] |= refs_b
            last[2] = last[2] and equal
            last[3] = last[3] and sure
            last[4] = last[4] if last[4] is not None else paragraph
        else:
            groups.append([refs_a, refs_b, equal, sure, paragraph])
    found = []
    for k, (refs_a, refs_b, all_equal, sure, _) in enumerate(groups):
        if not (refs_a and refs_b):
            continue
        if not sure and not _opens_or_closes(k, groups, written, heard):
            continue
        a_lo, a_hi, b_lo, b_hi = min(refs_a), max(refs_a), min(refs_b), max(refs_b)
        if a_hi - a_lo >= MAX_WRITTEN_WORDS or b_hi - b_lo >= HEARD_PER_WRITTEN * (a_hi - a_lo + 1) + 1:
            continue
        words = written[a_lo : a_hi + 1]
        if len({w.paragraph for w in words}) > 1:
            continue
        while b_hi + 1 < len(heard) and _NUMBER_TAIL.match(heard[b_hi + 1].text) and heard[b_hi].text[-1:].isdigit():
            b_hi += 1  # "2" ",400": the number's tail, which has no tokens of its own
        heard_group = tuple(heard[b_lo : b_hi + 1])
        article = " ".join(w.text for w in words).strip(_EDGE_PUNCTUATION)
        if article:
            same = all_equal or normal_forms(article) == tuple(f for h in heard_group for f in normal_forms(h.text))
            found.append(Correspondence(words[0].paragraph, article, heard_group, same, words[0].position))
    return found


def _opens_or_closes(k: int, groups: list[list], written, heard) -> bool:
    """Whether mismatch group ``k``, outside the stretches, is taken all the same: it opens (or closes)
    a paragraph right before (after) a stretch, or lies between two exact matches next to one.

    A stretch starts and ends with exact matches, so a misheard name that opens a paragraph ("Thorvaldsen
    Minerals has been ...") lies outside it. It is taken when its written words start (end) their
    paragraph, the next (previous) group is an exact, confident match, and its heard words start
    (end) a sentence: after (with) a full stop, or at the start (end) of the transcript.
    """
    refs_a, refs_b = groups[k][0], groups[k][1]
    a_lo, a_hi, b_lo, b_hi = min(refs_a), max(refs_a), min(refs_b), max(refs_b)
    opens = (
        (a_lo == 0 or written[a_lo - 1].paragraph != written[a_lo].paragraph)
        and k + 1 < len(groups)
        and groups[k + 1][2]
        and groups[k + 1][3]
        and (b_lo == 0 or _SENTENCE_END.search(heard[b_lo - 1].text) is not None)
    )
    closes = (
        (a_hi == len(written) - 1 or written[a_hi + 1].paragraph != written[a_hi].paragraph)
        and k > 0
        and groups[k - 1][2]
        and groups[k - 1][3]
        and (b_hi == len(heard) - 1 or _SENTENCE_END.search(heard[b_hi].text) is not None)
    )
    # Between two exact matches, one of them in a stretch: "Ferry service [to Stornoway] restored".
    bridged = 0 < k < len(groups) - 1 and groups[k - 1][2] and groups[k + 1][2] and (groups[k - 1][3] or groups[k + 1][3])
    return opens or closes or bridged


def word_aliases(alignments: Iterable[Alignment]) -> dict[int, list[tuple[int, str]]]:
    """The article spellings to index heard words under: segment index -> [(word index, spelling)].

    A group's spelling goes on its first heard word and an empty spelling on the rest (``Oosha cove``
    heard for ``Ushakov``). When several articles align with one transcript, the first to claim a
    heard word gives its spelling.
    """
    claimed: dict[tuple[int, int], str] = {}
    for alignment in alignments:
        for group in alignment.correspondences:
            if not group.differs or any((w.segment, w.index) in claimed for w in group.heard):
                continue
            for k, word in enumerate(group.heard):
                claimed[(word.segment, word.index)] = group.article if k == 0 else ""
    aliases: dict[int, list[tuple[int, str]]] = {}
    for (segment, index), spelling in sorted(claimed.items()):
        aliases.setdefault(segment, []).append((index, spelling))
    return aliases
