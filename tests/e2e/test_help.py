"""/help end to end (issue #15): what each command does, the models on here with their price at
this server's defaults, the member's budget left today and the rules that affect them, checked
against the server's settings as staff change them. Always private.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.e2e.conftest import World, ephemeral_text


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def plain_server(world: World) -> AsyncIterator[None]:
    yield
    await staff(world, "defaults", {"model": "wan2.2-t2v-plus", "option": "size"})
    await staff(world, "model", {"model": "wan2.6-i2v", "enabled": True})
    await staff(world, "budget", {"user_daily": "none"})
    await staff(world, "channels", {"action": "clear"})
    await staff(world, "roles", {"action": "clear"})
    await staff(world, "safety", {"locked": False})
    await staff(world, "limits", {"queue": 3})
    await staff(world, "approval", {"above": "none"})
    await staff(world, "audit-channel", {})


async def staff(world: World, subcommand: str, options: dict[str, Any]) -> str:
    return await ephemeral_text(world, "staff", "general", f"wanbot {subcommand}", options)


async def help_lines(world: World, user: str = "alice") -> list[str]:
    return (await ephemeral_text(world, user, "general", "help")).splitlines()


def line_of(lines: list[str], start: str) -> str:
    (found,) = [entry for entry in lines if entry.startswith(start)]
    return found


async def test_help_prices_each_model_at_the_defaults_and_lists_the_commands(
    world: World,
) -> None:
    lines = await help_lines(world)
    assert lines[0] == "**Generate**"
    assert line_of(lines, "/wan-t2v:") == (
        "/wan-t2v: Make a 5-second video from a text prompt (Wan 2.2 Plus). About $0.10 at "
        "this server's defaults (size 832*480, prompt extend on)."
    )
    assert line_of(lines, "/wan-i2v-flash:").endswith(
        "About $0.07 at this server's defaults (resolution 480P, prompt extend on, "
        "safety filter on)."
    )
    assert "About $0.50 at this server's defaults (resolution 720P, duration 5" in line_of(
        lines, "/wan-i2v:"
    )
    assert "About $0.03 at this server's defaults (size 1280*1280, number of images 1" in (
        line_of(lines, "/wan-i2i:")
    )
    for command in ("/usage me:", "/jobs list:", "/jobs cancel:", "/jobs show:"):
        line_of(lines, command)
    assert line_of(lines, "Daily budget:") == "Daily budget: no cap."
    assert line_of(lines, "Generation works in") == (
        "Generation works in every channel the bot can post in."
    )
    assert line_of(lines, "Jobs at once:") == "Jobs at once: 3; cooldown between submissions: 0 s."
    assert line_of(lines, "Past that limit") == (
        "Past that limit up to 3 more wait in your queue: reserved at once, started by "
        "themselves in turn, free to cancel until they start."
    )
    assert not any(entry.startswith("Jobs estimated above") for entry in lines)
    assert not any(entry.startswith("Staff:") for entry in lines)  # a member's view


async def test_help_follows_the_server_s_settings(world: World) -> None:
    guild = world.discord.guild
    await staff(
        world, "defaults", {"model": "wan2.2-t2v-plus", "option": "size", "value": "1920*1080"}
    )
    await staff(world, "model", {"model": "wan2.6-i2v", "enabled": False})
    await staff(world, "budget", {"user_daily": "2.50"})
    await staff(world, "channels", {"action": "add", "channel": "general"})
    await staff(world, "roles", {"action": "add", "role": "staff"})
    await staff(world, "safety", {"locked": True})
    await staff(world, "limits", {"queue": 0})
    await staff(world, "audit-channel", {"channel": "audit"})
    await staff(world, "approval", {"above": "0.30", "expire-hours": 12})
    lines = await help_lines(world, "bob")
    assert not any(entry.startswith("Past that limit") for entry in lines)  # no queue here
    assert line_of(lines, "Jobs estimated above") == (
        "Jobs estimated above $0.30 wait for a staff member to approve them (a request "
        "lapses after 12 h)."
    )
    assert line_of(lines, "/wan-t2v:").endswith(
        "About $0.50 at this server's defaults (size 1920*1080, prompt extend on)."
    )
    assert line_of(lines, "/wan-i2v:") == "/wan-i2v: turned off on this server"
    assert line_of(lines, "Daily budget:") == (
        "Daily budget: $2.50 left of $2.50 (resets at 00:00 UTC)."
    )
    assert line_of(lines, "Generation works in") == (
        f"Generation works in: <#{guild.channels['general'].id}>."
    )
    assert line_of(lines, "Who may generate:") == (
        f"Who may generate: members with <@&{guild.roles['staff'].id}> (you have none)."
    )
    assert line_of(lines, "Safety filter:") == "Safety filter: locked on."
    staff_lines = await help_lines(world, "staff")
    assert line_of(staff_lines, "Who may generate:").endswith("(staff always may).")
    assert line_of(staff_lines, "Jobs estimated above").endswith("(staff never wait).")
    assert line_of(staff_lines, "Staff:").startswith("Staff: `/wanbot show` lists every setting")
