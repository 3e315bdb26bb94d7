"""The server policy checks, as pure functions."""

from __future__ import annotations

import pytest

from bot.policy import GuildPolicy, PolicyRefusal, blocked_term, check_policy, compile_pattern

BASE = {
    "model_id": "wan2.2-t2v-plus",
    "channel_id": 10,
    "parent_channel_id": None,
    "role_ids": {100},
    "is_staff": False,
    "age_restricted": False,
    "safety_filter": None,
    "texts": ["a cat surfing at dawn", None],
}


def refusal(policy: GuildPolicy, **overrides: object) -> PolicyRefusal | None:
    try:
        check_policy(policy, **{**BASE, **overrides})  # type: ignore[arg-type]
    except PolicyRefusal as exc:
        return exc
    return None


def test_an_empty_policy_allows_everything_but_unfiltered_content_outside_nsfw() -> None:
    assert refusal(GuildPolicy()) is None
    refused = refusal(GuildPolicy(), safety_filter=False)
    assert refused is not None
    assert refused.reason == "safety_channel"
    assert refusal(GuildPolicy(), safety_filter=False, age_restricted=True) is None


def test_channels() -> None:
    policy = GuildPolicy(allowed_channel_ids=[11, 12])
    refused = refusal(policy)
    assert refused is not None
    assert refused.reason == "channel"
    assert "<#11>" in str(refused)
    assert refusal(policy, channel_id=12) is None
    assert refusal(policy, channel_id=99, parent_channel_id=11) is None  # a thread of #11


def test_roles_and_staff() -> None:
    policy = GuildPolicy(allowed_role_ids=[200])
    refused = refusal(policy)
    assert refused is not None
    assert refused.reason == "role"
    assert "<@&200>" in str(refused)
    assert refusal(policy, role_ids={100, 200}) is None
    assert refusal(policy, is_staff=True) is None


def test_disabled_model() -> None:
    policy = GuildPolicy(disabled_models=["wan2.2-t2v-plus"])
    refused = refusal(policy)
    assert refused is not None
    assert refused.reason == "model"
    assert refusal(policy, model_id="wan2.6-i2v") is None


def test_safety_lock_refuses_even_in_age_restricted_channels() -> None:
    policy = GuildPolicy(safety_locked=True)
    refused = refusal(policy, safety_filter=False, age_restricted=True)
    assert refused is not None
    assert refused.reason == "safety_locked"
    assert refusal(policy, safety_filter=True) is None


@pytest.mark.parametrize(
    ("pattern", "text", "blocked"),
    [
        ("cat", "A CAT surfing", True),
        ("cat", "concatenate the frames", False),
        ("gore*", "gorefest at noon", True),
        ("gore*", "gores", True),
        ("gore*", "algorest", False),
        ("blood bath", "a blood  bath", True),
        ("blood bath", "a Blood Bath scene", True),
        ("blood bath", "a bloodbath", False),
        ("c++", "written in c++ style", True),
        ("c++", "vitamin c", True),  # punctuation separates words: the entry is the word "c"
        ("c++", "the letter d", False),
    ],
)
def test_blocklist_matching(pattern: str, text: str, blocked: bool) -> None:
    policy = GuildPolicy(blocklist=[pattern])
    assert (blocked_term(policy, text) == pattern) is blocked


def test_blocklist_refusal_does_not_echo_the_word_and_is_audited() -> None:
    policy = GuildPolicy(blocklist=["secretword"])
    refused = refusal(policy, texts=["ok", "no SecretWord please"])
    assert refused is not None
    assert refused.reason == "blocklist"
    assert refused.audit
    assert "secretword" not in str(refused).lower()


@pytest.mark.parametrize("bad", ["", "   ", "x" * 101])
def test_blocklist_entries_are_bounded(bad: str) -> None:
    with pytest.raises(ValueError, match="1 to 100"):
        compile_pattern(bad)
    with pytest.raises(ValueError, match="1 to 100"):
        GuildPolicy(blocklist=[bad])


def test_every_text_of_the_request_is_checked() -> None:
    """Prompt, negative prompt, and any other free text sent upstream (a template name)."""
    policy = GuildPolicy(blocklist=["gore"])
    refused = refusal(policy, texts=["a calm lake", None, "effect-gore-v2"])
    assert refused is not None
    assert refused.reason == "blocklist"
    assert refusal(policy, texts=["a calm lake", None, "solaron"]) is None
