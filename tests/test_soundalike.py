"""Sound-alike matching: which query words qualify, and which heard words match them."""

from __future__ import annotations

from indexer.soundalike import eligible, is_common, joined_pairs, pair_kept, plain_words, sound_terms, sounds_like


def test_only_long_rare_words_are_matched_by_sound():
    assert eligible("Ngozi") and eligible("Okonkwo") and eligible("Tewkesbury")
    assert not eligible("Ross")  # too short to tell by sound
    for common in ("weather", "harbour", "called", "stopped", "making", "minister"):
        assert is_common(common) and not eligible(common)


def test_plain_words_only():
    assert plain_words("Ngozi Adeyemi") == ["Ngozi", "Adeyemi"]
    for query in ('"Ngozi Adeyemi"', "Ngozi OR Adeyemi", "title:Ngozi", "Ngo*", "covid19"):
        assert plain_words(query) is None


def test_heard_words_and_pairs_that_sound_alike():
    heard = ["angozia", "angola", "more", "tewkes", "ushakov", "oosha"]
    assert sounds_like("Ngozi", heard) == {"angozia"}
    assert sounds_like("Ushakov", ["ashikov", "shacam", "usher"]) == {"ashikov"}
    # A surname heard as two words.
    assert sounds_like("Mulrooney", joined_pairs(["said", "Mull", "Rooney"]).split(), pairs=True) == {"mullrooney"}
    assert sounds_like("Mulrooney", joined_pairs(["Mull", "over"]).split(), pairs=True) == set()
    # Joined, "to day" is a dictionary word: common words are never matched, heard whole or in two.
    assert sounds_like("Todai", joined_pairs(["to", "day"]).split(), pairs=True) == set()
    assert not pair_kept("today") and pair_kept("mullrooney") and "today" not in sound_terms(["to", "day"])


def test_common_heard_words_never_match():
    assert sounds_like("Morag", ["more", "morrow"]) == set()
    assert sounds_like("MacLeod", ["called"]) == set()


def test_joined_pairs():
    assert joined_pairs(["Oosha", "cove,", "said"]) == "ooshacove covesaid"
    assert joined_pairs(["14", "boats"]) == ""
