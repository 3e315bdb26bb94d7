"""A member's prompt full of markup, end to end: everywhere the bot shows it, it reads as typed
and nothing in it is live (no masked link, autolink, heading, spoiler or mention, no ping).

Checked on what the emulator stored: the public status message (as posted and as last
edited), the result, ``/jobs show`` and the staff audit channel's post.
"""

from __future__ import annotations

from typing import Any

from bot.jobs.states import JobState
from tests.discord_ui.markup import active_markup, visible
from tests.e2e.conftest import World, ephemeral_text, png_bytes
from tests.e2e.test_buttons import footer, generate
from tests.emulator.messages import StoredMessage


def hostile_prompt(world: World) -> str:
    guild = world.discord.guild
    return (
        "# Free [nitro](https://evil.example/claim) @everyone @here "
        f"<@{guild.users['bob'].id}> <@&{guild.roles['staff'].id}> ||now|| **bold** "
        "<t:1800000000:R> <https://evil.example/x>"
    )


def quoted_prompt(message: StoredMessage) -> str:
    """The prompt quoted in the message's embed (its description, after "> ")."""
    [embed] = message.embeds
    description = str(embed["description"])
    assert description.startswith("> "), description
    return description.removeprefix("> ")


def field(message: StoredMessage, name: str) -> str:
    [embed] = message.embeds
    return next(str(f["value"]) for f in embed.get("fields", []) if f["name"] == name)


def assert_shown_as_words(text: str, prompt: str) -> None:
    assert active_markup(text) == [], text
    assert visible(text) == prompt


def assert_pings_nobody_but(world: World, message: StoredMessage, *user_ids: int) -> None:
    assert not message.mention_everyone
    assert message.data.get("mention_roles") == []
    # (The emulator counts a reply to the bot's own status message as mentioning the bot.)
    mentioned = set(message.mentions) - {world.discord.bot_user.id}
    assert mentioned == set(user_ids)


async def staff(world: World, command: str, options: dict[str, Any] | None = None) -> str:
    return await ephemeral_text(world, "staff", "general", command, options)


async def test_a_hostile_prompt_is_shown_as_words_in_public_and_to_staff(world: World) -> None:
    prompt = hostile_prompt(world)
    alice = world.discord.guild.users["alice"]
    await staff(world, "wanbot audit-channel", {"channel": "audit"})
    try:
        audit_before = world.discord.messages("audit")
        image = ("pond.png", png_bytes(512, 512), "image/png")
        job_id, status = await generate(
            world, "alice", "wan-i2i", {"prompt": prompt}, {"image": image}
        )
        assert_shown_as_words(quoted_prompt(status), prompt)
        assert_pings_nobody_but(world, status)

        submitted = await world.discord.wait_for_message(
            "audit",
            lambda m: bool(m.embeds) and m.embeds[0].get("title") == "Generation submitted",
            timeout=10,
            after=audit_before[-1] if audit_before else None,
        )
        assert_shown_as_words(field(submitted, "Prompt"), prompt)
        assert_pings_nobody_but(world, submitted)

        await world.wait_job(job_id, JobState.DELIVERED, within=60)
        result = await world.discord.wait_for_message("general", footer(job_id, "result"))
        assert_shown_as_words(quoted_prompt(result), prompt)
        assert_pings_nobody_but(world, result, alice.id)
        # The status message, in every version it went through as the job moved.
        for version in [*status.history, status.data]:
            [embed] = version["embeds"]
            assert_shown_as_words(str(embed["description"]).removeprefix("> "), prompt)

        itx = await world.discord.slash("alice", "general", "jobs show", {"job": job_id})
        shown = await itx.wait_original(lambda m: bool(m.embeds), timeout=10)
        assert_shown_as_words(quoted_prompt(shown), prompt)
        assert_pings_nobody_but(world, shown)
    finally:
        await staff(world, "wanbot audit-channel")
