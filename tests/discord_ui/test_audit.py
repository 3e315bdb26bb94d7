"""The audit channel's embed: staff read a member's prompt as typed, never as markup."""

from __future__ import annotations

from bot.discord_ui.audit import audit_embed
from tests.discord_ui.markup import active_markup, visible

HOSTILE = "# Free [nitro](https://evil.example/claim)\n@everyone <@&123456789012345678> ||x||"


def fields(embed: object) -> dict[str, str]:
    return {field.name: field.value for field in embed.fields}  # type: ignore[attr-defined]


def test_the_prompt_is_shown_whole_and_inert() -> None:
    values = fields(
        audit_embed("Generation submitted", user_id=42, model_id="wan2.2-t2v-plus", prompt=HOSTILE)
    )
    assert active_markup(values["Prompt"]) == []
    assert visible(values["Prompt"]) == HOSTILE
    assert values["Member"] == "<@42>"
    ordinary = audit_embed("t", user_id=42, model_id="m", prompt="a cat, 4k, (masterpiece)!")
    assert fields(ordinary)["Prompt"] == "a cat, 4k, (masterpiece)!"


def test_a_long_prompt_of_markup_fits_a_field() -> None:
    prompt = "[x](https://evil.example) " * 80  # 2000 characters, many more once escaped
    value = fields(audit_embed("t", user_id=42, model_id="m", prompt=prompt))["Prompt"]
    assert len(value) <= 1024
    assert value.endswith("…")
    assert active_markup(value) == []
