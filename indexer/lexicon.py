"""The index-wide name lexicon: a name any article in the index spells informs every transcript.

Aligning gives an audio source the spellings of the articles that embed it. A name is also spoken
where no embedding article spells it: a guest named in another story, an episode whose page is
bare. The lexicon is the names of every indexed article (capitalised words the article never writes in
lower case). A heard word, or two adjacent heard words joined, that sounds like a lexicon name long
and rare enough for :func:`indexer.soundalike.eligible`, by the rules of :mod:`indexer.soundalike`,
is indexed under the name as an alias, as an aligned word is, marked as given by sound
(:data:`~indexer.index.backend.BY_SOUND`): a search for the name finds the moment, phrases across it
work, and the hit is a "sounds-like" match that shows both spellings (``**Ashikov** (sounds like
Ushakov)``).

What is never aliased: a heard word that already has an aligned spelling; a heard word that is
itself a lexicon name (heard as some article writes it: "Russia" in "Russia in" is not "Russian");
common words (on either side); and any word in a transcript that has the name as written
somewhere (the recogniser knows it there, so a near spelling is another word).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from . import soundalike
from .align import article_names
from .index.backend import BY_SOUND
from .models import Segment

# segment index -> [(word index, spelling)], as in indexer.index.backend.Aliases
Aliases = dict[int, list[tuple[int, str]]]


def names(title: str, paragraphs: Sequence[str]) -> set[str]:
    """The names an article spells, as it spells them (:func:`indexer.align.article_names`)."""
    return set(article_names([title, *paragraphs]).values())


def name_aliases(segments: Sequence[Segment], lexicon: Iterable[str], taken: Aliases | None = None) -> Aliases:
    """Spellings from ``lexicon`` for heard words that sound like them: segment -> [(word index, name)],
    each name marked :data:`~indexer.index.backend.BY_SOUND`.

    A pair of heard words gets the name on its first word and ``""`` on the second (the
    :data:`~indexer.index.backend.Aliases` convention). Words in ``taken`` (segment -> [(word index,
    spelling)], e.g. from aligning) keep theirs. The result holds only the new aliases.
    """
    from rapidfuzz import fuzz, process

    lexicon = set(lexicon)
    known = {soundalike.letters(n) for n in lexicon}
    claimed = {(s, w) for s, pairs in (taken or {}).items() for w, _ in pairs}
    words = [(s, w, soundalike.letters(word.word)) for s, segment in enumerate(segments) for w, word in enumerate(segment.words)]
    heard_as_written = {heard for _, _, heard in words}
    targets = sorted(n for n in lexicon if soundalike.letters(n) not in heard_as_written and soundalike.eligible(n))
    if not targets:
        return {}
    singles: dict[str, list[int]] = {}  # heard letters -> positions in ``words``
    pairs: dict[str, list[int]] = {}  # two heard words joined -> position of the first
    for k, (s, w, heard) in enumerate(words):
        if not heard or heard in known or (s, w) in claimed:
            continue
        if len(heard) >= soundalike.MIN_HEARD_LETTERS:
            singles.setdefault(heard, []).append(k)
        if k + 1 < len(words):
            s2, w2, following = words[k + 1]
            # Within a segment: a pair's second word is stored as part of the first's spelling.
            if s2 == s and following and following not in known and (s2, w2) not in claimed:
                pairs.setdefault(heard + following, []).append(k)

    found: dict[int, str] = {}  # position in ``words`` -> name; a pair's second word gets ""
    choices = {False: list(singles), True: list(pairs)}
    for name in targets:
        for candidates, joined in ((singles, False), (pairs, True)):
            cutoff = soundalike.MIN_PAIR_SIMILARITY if joined else soundalike.MIN_SIMILARITY
            # rapidfuzz narrows the candidates; soundalike applies the whole rule to the few left.
            scored = process.extract(
                soundalike.letters(name), choices[joined], scorer=fuzz.ratio, score_cutoff=cutoff, limit=None
            )
            near = [c for c, _, _ in scored]
            for heard in soundalike.sounds_like(name, near, pairs=joined):
                for k in candidates[heard]:
                    span = (k, k + 1) if joined else (k,)
                    if any(i in found for i in span):
                        continue  # the first name to claim a heard word keeps it
                    found[k] = BY_SOUND + name
                    if joined:
                        found[k + 1] = ""
    aliases: Aliases = {}
    for k in sorted(found):
        s, w, _ = words[k]
        aliases.setdefault(s, []).append((w, found[k]))
    return aliases


def merged(first: Aliases, second: Aliases) -> Aliases:
    """``first`` with the aliases of ``second`` added, word order kept; ``first`` wins a word both name."""
    result = {s: list(pairs) for s, pairs in first.items()}
    for s, pairs in second.items():
        taken = {w for w, _ in result.get(s, [])}
        result.setdefault(s, []).extend((w, spelling) for w, spelling in pairs if w not in taken)
        result[s].sort()
    return result
