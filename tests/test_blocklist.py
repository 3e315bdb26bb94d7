"""The blocklist sees through disguises, and does not refuse ordinary prompts.

The evasion set, the ordinary prompts and the common list are data files under
``tests/fixtures/prompts/`` (``bench/blocklist.py`` reads the same files).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bot.blocklist
from bot.policy import GuildPolicy, PolicyRefusal, blocked_term, check_policy, compile_pattern

PROMPTS = Path(__file__).parent / "fixtures" / "prompts"
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})")


def _lines(name: str) -> list[str]:
    text = (PROMPTS / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def decode(text: str) -> str:
    """The fixtures write invisible and combining characters as ``\\uXXXX`` escapes."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def evasions() -> list[tuple[str, str]]:
    """``(entry, text)`` pairs: ``text`` must be refused by a blocklist holding ``entry``."""
    pairs = []
    for line in _lines("evasions.txt"):
        entry, text = line.split("\t")
        pairs.append((entry, decode(text)))
    return pairs


def ordinary_prompts() -> list[str]:
    return _lines("ordinary_prompts.txt")


def common_blocklist() -> list[str]:
    return _lines("common_blocklist.txt")


def blocks(entries: list[str], text: str) -> str | None:
    return blocked_term(GuildPolicy(blocklist=entries), text)


# ---------------------------------------------------------------------------------------------
# The data sets
# ---------------------------------------------------------------------------------------------

EVASIONS = evasions()


def test_the_data_sets_are_large_enough_to_mean_something() -> None:
    assert len(EVASIONS) >= 40
    assert len(ordinary_prompts()) >= 300
    assert 30 <= len(common_blocklist()) <= 60
    # every common entry is a valid entry, and the list fits a server
    assert GuildPolicy(blocklist=common_blocklist()).blocklist == common_blocklist()
    for entry in common_blocklist():
        compile_pattern(entry)


@pytest.mark.parametrize(
    ("entry", "text"), EVASIONS, ids=[f"{n:02d}-{entry}" for n, (entry, _) in enumerate(EVASIONS)]
)
def test_every_evasion_is_refused(entry: str, text: str) -> None:
    assert blocks([entry], text) == entry
    # ...and by the common list too, when the entry is on it (the audit names the entry)
    if entry in common_blocklist():
        assert blocks(common_blocklist(), text) is not None


def test_no_ordinary_prompt_is_refused_by_the_common_list() -> None:
    """A guard, not a new behaviour: it passed before the folding and must keep passing. It has
    teeth: stripping every accent refuses "fromage râpé" and "cụm hoa" (rape, cum); substring
    matching refuses Scunthorpe, therapist, grapes, skillet and bloodhound."""
    refused = {
        prompt: term
        for prompt in ordinary_prompts()
        if (term := blocks(common_blocklist(), prompt)) is not None
    }
    assert refused == {}


# ---------------------------------------------------------------------------------------------
# Semantics
# ---------------------------------------------------------------------------------------------


def test_spelled_out_letters_match_only_as_a_whole_run() -> None:
    assert blocks(["cat"], "look, a c a t") == "cat"
    assert blocks(["cat"], "a c.a.t on the roof") == "cat"
    assert blocks(["cat"], "c a t e g o r y") is None
    assert blocks(["category"], "c a t e g o r y") == "category"
    assert blocks(["cat"], "concatenate, c a t s") is None


def test_phrases_match_across_any_run_of_separators_but_not_as_one_word() -> None:
    for text in ("blood  bath", "blood\u00a0bath", "blood.bath", "blood - bath", "blood_*_bath"):
        assert blocks(["blood bath"], text) == "blood bath", text
    assert blocks(["blood bath"], "a bloodbath") is None
    assert blocks(["bloodbath"], "b l o o d b a t h") == "bloodbath"


def test_whole_words_stay_whole_after_folding() -> None:
    for entry, text in [
        ("kill", "a skіlled chef with a skillet"),  # Cyrillic і
        ("blood", "a ｂｌｏｏｄhound"),
        ("heroin", "the heroine"),
        ("rape", "grapes and drapes, a therapist"),
        ("gore", "Goretex, gorgeous gorge"),
    ]:
        assert blocks([entry], text) is None, text
    assert blocks(["kill"], "a skіlled chef, kіll") == "kill"


def test_the_wildcard_still_matches_letters_inside_one_word() -> None:
    assert blocks(["gore*"], "ｇｏｒｅｆｅｓｔ") == "gore*"
    assert blocks(["gore*"], "g o r e f e s t") == "gore*"
    assert blocks(["gore*"], "algorest") is None
    assert blocks(["f*ck"], "fаck") == "f*ck"  # Cyrillic а
    assert blocks(["gore* scene"], "gorey.scene") == "gore* scene"


def test_accents_are_ignored_except_in_text_written_in_an_accented_language() -> None:
    assert blocks(["rape"], "fromage râpé") == "rape"
    assert blocks(["nude"], "a nüde woman") == "nude"
    # two accented words or more: the accents are spelling
    assert blocks(["rape"], "un gratin de pâtes au fromage râpé") is None
    assert blocks(["cum"], "cụm hoa đào nở rộ") is None
    # an entry typed with its accents is found there with them
    assert blocks(["râpé"], "un gratin de pâtes au fromage râpé") == "râpé"
    # a mark that does not compose into a letter is decoration, whatever the language
    assert blocks(["nude"], "une femme n\u0336u\u0336d\u0336e\u0336 à la plage, lumière") == "nude"


def test_entries_and_text_in_scripts_without_spaces() -> None:
    assert blocks(["血腥"], "一个血腥的场面") == "血腥"
    assert blocks(["血腥"], "血 腥") == "血腥"
    assert blocks(["nude"], "一个nude的女人") == "nude"
    assert blocks(["nude"], "ヌードではない") is None


def test_look_alikes_of_other_scripts_fold_but_their_own_words_stay_apart() -> None:
    assert blocks(["gore"], "gоrе") == "gore"  # Cyrillic о, е
    assert blocks(["kill"], "ᴋɪʟʟ") == "kill"  # small capitals, some missing from Unicode's table
    # a Russian word is not an English one: "горе" (grief) folds to "rope", not "gore"
    assert blocks(["gore"], "горе от ума") is None
    # Hebrew and Arabic letters are not folded: "סוס" (horse) is not "olo"
    assert blocks(["olo"], "סוס") is None
    assert blocks(["olo"], "οlο") == "olo"  # Greek omicrons are


def test_the_entry_is_reported_as_staff_typed_it_and_in_list_order() -> None:
    assert blocks(["ＧＯＲＥ"], "gore") == "ＧＯＲＥ"
    assert blocks(["kill", "nude"], "nudе and kіll") == "kill"
    assert blocks(["nude", "kill"], "nudе and kіll") == "nude"


def test_entries_need_a_letter_or_digit_and_stored_ones_without_stay_readable() -> None:
    for bad in ("***", "...", "\u200b\u200b", "+ + +"):
        with pytest.raises(ValueError, match="needs a letter or a digit"):
            compile_pattern(bad)
    # stored before this rule (the old matcher let "*" refuse every prompt): read, never matching
    policy = GuildPolicy(blocklist=["*", "gore"])
    assert blocks(policy.blocklist, "a cat") is None
    assert blocks(policy.blocklist, "gоre") == "gore"


# ---------------------------------------------------------------------------------------------
# Cost: every command runs the check
# ---------------------------------------------------------------------------------------------


def test_a_check_folds_each_text_once_and_compiles_a_list_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = [f"word{n}" for n in range(199)] + ["gore*"]
    folds: list[str] = []
    real_fold = bot.blocklist.fold

    def counting_fold(text: str) -> bot.blocklist.Folded:
        folds.append(text)
        return real_fold(text)

    monkeypatch.setattr(bot.blocklist, "fold", counting_fold)
    bot.blocklist.compile_blocklist.cache_clear()
    policy = GuildPolicy(blocklist=entries)
    arguments = {
        "model_id": "wan2.2-i2v-flash",
        "channel_id": 1,
        "parent_channel_id": None,
        "role_ids": set(),
        "is_staff": False,
        "age_restricted": False,
        "safety_filter": None,
    }
    for _ in range(3):
        check_policy(policy, texts=["a cat surfing", None, "solaron"], **arguments)  # type: ignore[arg-type]
    with pytest.raises(PolicyRefusal):
        check_policy(policy, texts=["fine", "g o r e f e s t"], **arguments)  # type: ignore[arg-type]
    compiled = bot.blocklist.compile_blocklist.cache_info()
    assert (compiled.misses, compiled.hits) == (1, 3)
    assert folds == ["a cat surfing", "solaron"] * 3 + ["fine", "g o r e f e s t"]
