"""The generation pipeline's policy step checks every text a request sends, and only text."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import bot.discord_ui.generation as generation
from bot.catalog import spec_for
from bot.config import ProviderName
from bot.discord_ui.errors import UserFacingError
from bot.jobs.records import GuildConfig
from bot.policy import GuildPolicy

BLOCKS_GORE = GuildConfig(policy=GuildPolicy(blocklist=["gore"]))


def interaction() -> Any:
    return SimpleNamespace(
        guild=SimpleNamespace(id=1),
        channel=SimpleNamespace(id=2, parent_id=None, is_nsfw=lambda: False),
        user=SimpleNamespace(id=3, roles=[]),
        permissions=SimpleNamespace(manage_guild=False),
        client=SimpleNamespace(),
    )


@pytest.fixture
def audits(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    posted: list[dict[str, Any]] = []

    async def post_audit(bot: object, guild_id: int, title: str, **fields: Any) -> None:
        posted.append({"title": title, **fields})

    monkeypatch.setattr(generation, "post_audit", post_audit)
    return posted


async def test_the_template_name_is_checked_and_the_audit_names_the_entry(
    audits: list[dict[str, Any]],
) -> None:
    spec = spec_for("wan2.2-i2v-flash", ProviderName.MULEROUTER)
    fields = {"prompt": "a calm lake", "template": "effect-gоre-v2", "resolution": "720P"}
    with pytest.raises(UserFacingError) as refused:
        await generation._check_policy(interaction(), spec, fields, BLOCKS_GORE)
    assert "gore" not in str(refused.value).lower()  # the member is not shown the word
    assert [(a["title"], a["note"], a["prompt"]) for a in audits] == [
        ("Refused by the blocklist", "matched: gore", "a calm lake")
    ]


async def test_image_and_audio_references_are_not_text(audits: list[dict[str, Any]]) -> None:
    spec = spec_for("wan2.6-i2v", ProviderName.MULEROUTER)
    fields = {
        "prompt": "a calm lake",
        "image": "https://cdn.example/gore.png",
        "audio_url": "https://cdn.example/gore.mp3",
    }
    await generation._check_policy(interaction(), spec, fields, BLOCKS_GORE)
    assert audits == []
