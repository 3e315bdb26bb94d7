"""Posts to a server's audit channel: submissions, blocklist refusals, cancels.

Why this module exists: moderated team channels want a record of who generated what, at what
cost, and what was refused. Auditing never blocks or fails a member's action: a missing or
unwritable audit channel is logged and skipped.

What it must never do: render a member's words as markup, or ping anyone. The prompt is a
member's and is escaped (:mod:`bot.discord_ui.markdown`); the note is the bot's own wording,
which names members and channels by mention on purpose, and is posted as given.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.discord_ui.markdown import excerpt

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

FIELD_LIMIT = 1000  # below Discord's 1024 characters for a field value


async def post_audit(
    bot: WanBot,
    guild_id: int,
    title: str,
    *,
    user_id: int,
    model_id: str,
    prompt: str | None = None,
    cost: str | None = None,
    link: str | None = None,
    note: str | None = None,
) -> None:
    config = await bot.store.guild_config(guild_id)
    channel_id = config.policy.audit_channel_id
    if channel_id is None:
        return
    embed = audit_embed(
        title, user_id=user_id, model_id=model_id, prompt=prompt, cost=cost, link=link, note=note
    )
    channel = bot.get_channel(channel_id)
    try:
        if channel is None:
            channel = await bot.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise TypeError("not a text channel")
        await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
    except (discord.HTTPException, TypeError) as exc:
        log.warning("audit post to channel %d in guild %d failed: %s", channel_id, guild_id, exc)


def audit_embed(
    title: str,
    *,
    user_id: int,
    model_id: str,
    prompt: str | None = None,
    cost: str | None = None,
    link: str | None = None,
    note: str | None = None,
) -> discord.Embed:
    """The audit post: who, which model, what it cost, the member's prompt (escaped, its lines
    kept, shortened to fit a field) and the bot's note (as given)."""
    embed = discord.Embed(title=title, colour=discord.Colour.dark_grey())
    embed.add_field(name="Member", value=f"<@{user_id}>")
    embed.add_field(name="Model", value=model_id)
    if cost:
        embed.add_field(name="Cost", value=cost)
    if prompt:
        embed.add_field(
            name="Prompt", value=excerpt(prompt, FIELD_LIMIT, one_line=False), inline=False
        )
    if note:
        embed.add_field(name="Note", value=note[:FIELD_LIMIT], inline=False)
    if link:
        embed.add_field(name="Message", value=link, inline=False)
    return embed
