"""Placing chunk-relative segments on the file's timeline, and matching misheard names to the article."""

from __future__ import annotations

from indexer import align
from indexer.models import Segment, Transcript, Word


def test_segments_are_shifted_cleaned_and_monotonic():
    raw = [
        Segment(0.5, 2.0, " Hello there.", [Word(0.5, 0.9, " Hello", 0.9), Word(0.85, 1.4, " there.", 0.8)]),
        Segment(1.9, 3.0, "   ", []),
        Segment(2.5, 9.0, " And more.", [Word(2.5, 2.8, " And", 0.9), Word(2.9, 3.5, " more.", 0.9)]),
    ]
    placed = list(align.place_segments(raw, offset=600.0, limit=603.2))
    assert [s.text for s in placed] == ["Hello there.", "And more."]
    first, second = placed
    assert [w.word for w in first.words] == ["Hello", "there."]
    assert [w.start for w in first.words] == [600.5, 600.85]
    assert second.end == 603.2 and second.words[-1].end == 603.2  # clamped to the audio's end
    assert all(isinstance(w.start, float) for s in placed for w in s.words)


def test_clip_keeps_the_words_inside_the_span():
    words = [Word(float(i), i + 0.5, f"w{i}", 1.0) for i in range(10)]
    whole = Transcript([Segment(0.0, 9.5, " ".join(w.word for w in words), words)], "en", 10.0)
    part = align.clip(whole, 3.0, 6.0)
    assert [w.word for w in part.segments[0].words] == ["w3", "w4", "w5"]
    assert part.segments[0].text == "w3 w4 w5" and part.duration == 3.0


def test_a_stream_of_files_is_split_back_by_word_times():
    # Two files joined with a pause: the first spans 0-4 s of the stream, the second 5-9 s.
    spans = [(0.0, 4.0), (5.0, 9.0)]
    across = Segment(
        2.0,
        6.5,
        " The end. A start",
        [Word(2.0, 3.0, " The", 0.9), Word(3.0, 4.3, " end.", 0.9), Word(4.8, 5.6, " A", 0.9), Word(5.6, 6.5, " start", 0.9)],
    )
    untimed = Segment(7.0, 8.0, " No words.")
    first, second = align.split_stream([Segment(0.5, 1.5, " Hi.", [Word(0.5, 1.5, " Hi.", 1.0)]), across, untimed], spans)
    assert [s.text for s in first] == [" Hi.", " The end."]
    assert [s.text for s in second] == [" A start", " No words."]
    # In the second file's own timeline; a word ending in the pause stays with the nearer file.
    assert [(round(w.start, 3), round(w.end, 3)) for w in second[0].words] == [(-0.2, 0.6), (0.6, 1.5)]
    assert (first[1].start, first[1].end) == (2.0, 4.3) and (second[1].start, second[1].end) == (2.0, 3.0)
    placed = list(align.place_segments(second, 0.0, limit=4.0))
    assert placed[0].words[0].start == 0.0  # clamped into the file


def _words(start: float, end: float, step: float = 0.3) -> list[Word]:
    count = round((end - start) / step)
    return [Word(start + k * step, start + (k + 1) * step, f" w{k}", 0.9) for k in range(count)]


def test_unheard_speech_is_the_longest_stretch_of_speech_no_word_covers():
    def unheard(speech, *runs: list[Word]) -> float:
        segments = [Segment(words[0].start, words[-1].end, "x", words) for words in runs]
        return round(align.unheard_speech(speech, segments), 3)

    # The skipped join in "Joined streams" (bench/RESULTS.md): words stop at 6.56 s of a file VAD hears speech in until 8.6 s.
    assert unheard([(0.0, 8.6)], _words(0.26, 6.56)) == 1.54
    # A pause inside speech (VAD bridges pauses under 2 s) is mostly covered by the slack either side.
    assert unheard([(0.0, 8.0)], _words(0.0, 3.0), _words(4.8, 8.1)) == 0.8
    # A word Whisper stretches over seconds covers only its first 1.5 s.
    stretched = _words(0.0, 1.2) + [Word(1.2, 5.0, " border", 0.4)] + _words(5.0, 6.2)
    assert unheard([(0.0, 6.2)], stretched) == 1.3
    # Speech with no words at all, and words where VAD heard none.
    assert unheard([(1.0, 2.0), (5.0, 9.0)], _words(0.0, 2.1)) == 4.0
    assert unheard([], _words(0.0, 2.1)) == 0.0


def test_cut_silences_are_restored_by_the_chunk_that_holds_a_word():
    from faster_whisper.vad import SpeechTimestampsMap

    # Speech at 1-2 s and 3-4 s of the original; recognised as 2 s of audio without the silences.
    speech_map = SpeechTimestampsMap([{"start": 16000, "end": 32000}, {"start": 48000, "end": 64000}], 16000)
    words = [Word(0.2, 0.4, " a", 0.9), Word(0.9, 1.2, " b", 0.9), Word(1.5, 1.8, " c", 0.9)]
    restored = align.restore_cut_silences(Segment(0.2, 1.8, " a b c", words), speech_map)
    # "b" straddles the cut; its middle (1.05 s) is in the second chunk, so it moves with that one.
    assert [(w.start, w.end) for w in restored.words] == [(1.2, 1.4), (2.9, 3.2), (3.5, 3.8)]
    assert (restored.start, restored.end) == (1.2, 3.8)
    untimed = align.restore_cut_silences(Segment(0.5, 1.5, " no words"), speech_map)
    assert (untimed.start, untimed.end) == (1.5, 3.5)


def test_article_names_are_capitalised_words_never_written_in_lower_case():
    names = align.article_names(["The talks went on. Yury Ushakov said Russia’s view was clear.", "the end"])
    assert sorted(names.values()) == ["Russia", "Ushakov", "Yury"]


def test_misheard_names_get_the_articles_spelling():
    heard = "On Wednesday, Yuri Ashikov, a Kremlin advisor, met Nader and Shacam."
    words = [Word(float(i), i + 0.5, w, 0.9) for i, w in enumerate(heard.split())]
    transcript = Transcript([Segment(0.0, 10.0, heard, words)], "en", 10.0)
    names = align.article_names(["Yury Ushakov, a Kremlin advisor, spoke for NATO."])
    aliases = align.name_aliases(transcript, names)
    # "Nader" is not "NATO", and "Shacam" is too far from "Ushakov" to guess.
    assert aliases == {0: [(2, "Yury"), (3, "Ushakov")]}


def test_words_are_regrouped_into_sentences():
    heard = "On Monday, the U .S. State Department spoke. it went on. Then silence"
    words = [Word(float(i), i + 0.5, w, 0.9) for i, w in enumerate(heard.split())]
    words[-1] = Word(20.0, 20.5, "silence", 0.9)  # after a long pause
    window = Segment(0.0, 20.5, heard, words)  # one 30-second window, as the batched decoder gives
    regrouped = list(align.sentences([window]))
    assert [s.text for s in regrouped] == [
        "On Monday, the U.S. State Department spoke. it went on.",  # no break before lower case
        "Then",
        "silence",
    ]
    assert [(s.start, s.end) for s in regrouped] == [(0.0, 10.5), (11.0, 11.5), (20.0, 20.5)]


def test_a_long_sentence_is_split_at_its_longest_pause():
    words = [Word(i * 0.4, i * 0.4 + 0.3, f"w{i}", 0.9) for i in range(60)]
    words[35:] = [Word(w.start + 1.0, w.end + 1.0, w.word, 0.9) for w in words[35:]]  # a 1.1 s gap
    parts = list(align.sentences([Segment(0.0, 30.0, "", words)]))
    assert [len(p.words) for p in parts] == [35, 25]
