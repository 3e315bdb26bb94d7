"""A small discord.py bot that exercises what the emulator must support.

Run only through the launcher: ``python -m tests.emulator.launch --module
tests.emulator_tests.sample_bot``. It defers and follows up with a file and a DynamicItem
button, reads an attachment option, autocompletes, opens a modal, and has commands that
deliberately break Discord's rules (late answers, double answers, oversized payloads) and report
what Discord answered in the channel, so tests can see discord.py's real behaviour.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import sys

import discord
from discord import app_commands
from discord.ext import commands
from PIL import Image

log = logging.getLogger("sample_bot")

SIZES = ["480*832", "832*480", "720*1280", "1280*720", "1024*1024", "1920*1080"]


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"job:(?P<action>[a-z]+):(?P<job>\d+)"
):
    """A button that works after restarts: the custom_id carries the job id."""

    def __init__(self, action: str, job: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=action.title(),
                custom_id=f"job:{action}:{job}",
                style=discord.ButtonStyle.primary,
            )
        )
        self.action = action
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: object
    ) -> JobButton:
        groups = match.groupdict()  # type: ignore[attr-defined]
        return cls(groups["action"], int(groups["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        who = interaction.user.name
        if self.action == "delete":  # type 7: update the clicked message
            await interaction.response.edit_message(
                content=f"job {self.job} deleted by {who}", embed=None, attachments=[], view=None
            )
        elif self.action == "ack":  # type 6, then edit the clicked message through @original
            await interaction.response.defer()
            await interaction.edit_original_response(content=f"job {self.job} acknowledged")
        else:  # type 4
            await interaction.response.send_message(
                f"{self.action} job {self.job} for {who} pid {os.getpid()}", ephemeral=True
            )


class Feedback(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback-text", max_length=200
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks {interaction.user.name}: {self.text}")


class SampleBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False),
        )

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JobButton)
        guild_id = os.environ.get("SAMPLE_GUILD_ID")
        if guild_id:
            self.tree.add_command(guild_ping, guild=discord.Object(int(guild_id)))
        await self.tree.sync()
        if guild_id:
            await self.tree.sync(guild=discord.Object(int(guild_id)))

    async def on_ready(self) -> None:
        log.info("SAMPLE READY as %s in %d guilds", self.user, len(self.guilds))

    async def on_resumed(self) -> None:
        log.info("SAMPLE RESUMED")

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        log.info("SAMPLE CHANNEL DELETED %s %d", channel.name, channel.id)

    async def on_guild_channel_update(
        self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel
    ) -> None:
        me = after.guild.me
        attach = after.permissions_for(me).attach_files
        log.info("SAMPLE CHANNEL UPDATED %s attach_files=%s", after.name, attach)


bot = SampleBot()


async def report(interaction: discord.Interaction, text: str) -> None:
    """Say something in the channel through the bot's own route (never the interaction)."""
    channel = interaction.channel
    assert isinstance(channel, discord.abc.Messageable)
    await channel.send(text)


@bot.tree.command(name="render", description="Render a picture (defers, then a file)")
@app_commands.describe(prompt="What to draw")
async def render(interaction: discord.Interaction, prompt: str) -> None:
    await interaction.response.defer(thinking=True)
    await asyncio.sleep(0.2)
    view = discord.ui.View(timeout=None)
    job = interaction.id % 100000
    view.add_item(JobButton("again", job))
    view.add_item(JobButton("delete", job))
    view.add_item(JobButton("ack", job))
    embed = discord.Embed(title="Render", description=prompt)
    embed.set_image(url="attachment://render.png")
    await interaction.followup.send(
        f"done: {prompt}",
        file=discord.File(io.BytesIO(png_bytes()), filename="render.png"),
        embed=embed,
        view=view,
    )
    await interaction.followup.send("second followup", ephemeral=True)


@bot.tree.command(name="describe", description="Describe an uploaded image")
async def describe(interaction: discord.Interaction, image: discord.Attachment) -> None:
    data = await image.read()
    digest = hashlib.sha256(data).hexdigest()[:12]
    await interaction.response.send_message(  # a multipart callback: the image comes back
        f"{image.filename} {image.size} {len(data)} {image.width}x{image.height} "
        f"{image.content_type} {digest}",
        file=discord.File(io.BytesIO(data), filename=f"echo-{image.filename}"),
    )


async def size_choices(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=s, value=s) for s in SIZES if current in s][:25]


@bot.tree.command(name="size-pick", description="Pick a size")
@app_commands.autocomplete(size=size_choices)
async def size_pick(interaction: discord.Interaction, size: str, count: int = 1) -> None:
    await interaction.response.send_message(f"size {size} x{count}")


@bot.tree.command(name="feedback", description="Open the feedback form")
async def feedback(interaction: discord.Interaction) -> None:
    await interaction.response.send_modal(Feedback())


@bot.tree.command(name="slow", description="Answer after a delay")
async def slow(interaction: discord.Interaction, seconds: float) -> None:
    await asyncio.sleep(seconds)
    try:
        await interaction.response.send_message("finally")
    except discord.HTTPException as exc:
        await report(interaction, f"slow failed {exc.status} {exc.code}")


@bot.tree.command(name="twice", description="Answer twice")
async def twice(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("first")
    interaction.response._response_type = None  # forget, as a second process would
    try:
        await interaction.response.send_message("second")
    except discord.HTTPException as exc:
        await interaction.followup.send(f"second refused {exc.status} {exc.code}")


@bot.tree.command(name="late", description="Defer, wait, then follow up")
async def late(interaction: discord.Interaction, seconds: float) -> None:
    await interaction.response.defer(thinking=True)
    await asyncio.sleep(seconds)
    try:
        await interaction.followup.send("late result")
    except discord.HTTPException as exc:
        await report(interaction, f"late failed {exc.status} {exc.code}; result by channel")


@bot.tree.command(name="big", description="Upload a file of a given size")
async def big(interaction: discord.Interaction, size: int) -> None:
    await interaction.response.defer()
    try:
        await interaction.followup.send(file=discord.File(io.BytesIO(b"\0" * size), "big.bin"))
    except discord.HTTPException as exc:
        await interaction.followup.send(
            f"upload refused {exc.status} {exc.code}; limit {interaction.filesize_limit}"
        )


@bot.tree.command(name="long", description="Send an over-long answer")
@app_commands.choices(
    kind=[
        app_commands.Choice(name="content", value="content"),
        app_commands.Choice(name="embed", value="embed"),
        app_commands.Choice(name="button", value="button"),
    ]
)
async def long(interaction: discord.Interaction, kind: str) -> None:
    try:
        if kind == "content":
            await interaction.response.send_message("x" * 2001)
        elif kind == "embed":
            await interaction.response.send_message(
                embed=discord.Embed(title="t", description="d" * 4097)
            )
        else:
            view = discord.ui.View()
            view.add_item(discord.ui.Button(label="b", custom_id="c" * 101))
            await interaction.response.send_message("button", view=view)
    except discord.HTTPException as exc:
        await interaction.response.send_message(f"refused {exc.status} {exc.code}: {exc.text}")


@bot.tree.command(name="post", description="Post in the channel through the channel route")
async def post(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    message = await interaction.channel.send(text)  # type: ignore[union-attr]
    edited = await message.edit(content=text + " (edited)")
    await interaction.followup.send(f"posted {message.id} {edited.content}", ephemeral=True)


@bot.tree.command(name="burst", description="Send messages at once, then edit each")
async def burst(interaction: discord.Interaction, count: int) -> None:
    """Many writes in one channel at once: discord.py's own buckets must pace them."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    channel = interaction.channel
    assert isinstance(channel, discord.TextChannel)
    sent = await asyncio.gather(*(channel.send(f"burst {i}") for i in range(count)))
    edited = await asyncio.gather(*(m.edit(content=f"{m.content} (edited)") for m in sent))
    await interaction.followup.send(f"burst sent {len(sent)} edited {len(edited)}", ephemeral=True)


@bot.tree.command(name="upload-here", description="Post text, then a file, in the channel")
async def upload_here(interaction: discord.Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    channel = interaction.channel
    assert isinstance(channel, discord.TextChannel)
    outcome = []
    for label, kwargs in (
        ("text", {"content": "plain text"}),
        ("file", {"file": discord.File(io.BytesIO(png_bytes()), filename="up.png")}),
    ):
        try:
            await channel.send(**kwargs)  # type: ignore[arg-type]
            outcome.append(f"{label} ok")
        except discord.HTTPException as exc:
            outcome.append(f"{label} refused {exc.status} {exc.code}")
    await interaction.followup.send("; ".join(outcome), ephemeral=True)


@bot.tree.command(name="dm-me", description="Send the caller a direct message")
async def dm_me(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    message = await interaction.user.send(text)
    await interaction.followup.send(f"dm sent in {message.channel.id}", ephemeral=True)


@bot.tree.command(name="whoami", description="What discord.py sees")
async def whoami(interaction: discord.Interaction) -> None:
    channel = interaction.channel
    member = interaction.user
    assert isinstance(member, discord.Member)
    assert isinstance(channel, discord.TextChannel)
    guild = interaction.guild
    assert guild is not None
    await interaction.response.send_message(
        f"user={member.name} nsfw={channel.nsfw} manage_guild="
        f"{member.guild_permissions.manage_guild} roles={sorted(r.name for r in member.roles)} "
        f"limit={interaction.filesize_limit} attach={interaction.app_permissions.attach_files} "
        f"channels={sorted(c.name for c in guild.text_channels)} members={guild.member_count} "
        f"me={guild.me is not None} locale={interaction.locale.value}",
        ephemeral=True,
    )


@bot.tree.command(name="pins", description="Read the channel's pins")
async def pins(interaction: discord.Interaction) -> None:
    try:
        await interaction.channel.pins()  # type: ignore[union-attr]
        await interaction.response.send_message("pins ok")
    except discord.HTTPException as exc:
        await interaction.response.send_message(f"pins failed {exc.status}")


admin = app_commands.Group(
    name="admin",
    description="Staff tools",
    default_permissions=discord.Permissions(manage_guild=True),
    guild_only=True,
)
jobs_group = app_commands.Group(name="jobs", description="Job tools", parent=admin)


@jobs_group.command(name="cancel", description="Cancel a job")
async def admin_jobs_cancel(
    interaction: discord.Interaction,
    job: app_commands.Range[int, 1],
    who: discord.Member | None = None,
) -> None:
    await interaction.response.send_message(
        f"cancelled {job} for {who.name if who else '-'}", ephemeral=True
    )


bot.tree.add_command(admin)


@app_commands.command(name="guild-ping", description="Guild-only ping")
async def guild_ping(interaction: discord.Interaction) -> None:
    await interaction.response.send_message(f"pong from guild {interaction.guild_id}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("SAMPLE_LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    token = os.environ["DISCORD_TOKEN"]
    bot.run(token, log_handler=None)
    return 0
