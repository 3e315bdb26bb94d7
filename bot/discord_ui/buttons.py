"""Buttons that keep working after a restart: Cancel, Retry, Vary, Animate and Delete.

Why this module exists: results stay in channels for days and the bot restarts in between, so
every button is a :class:`discord.ui.DynamicItem` whose ``custom_id`` carries the job id
(``wan:<action>:<job>``); ``setup_hook`` registers them once and any old message works again.
A button on a job that no longer exists answers with an explanation, never a failure.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.catalog import MediaRole, ProviderName, spec_for
from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.flow import (
    GenerationOrder,
    InputImage,
    cancel_generation,
    new_seed,
    start_generation,
)
from bot.discord_ui.tree import answer_error
from bot.jobs.engine import INPUT_PREFIX
from bot.jobs.states import GENERATING_STATES
from bot.jobs.store import Job
from bot.media import MAX_INPUT_DOWNLOAD_BYTES, MediaRejected, download

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)
_INPUT_NAME = re.compile(r"^input-(?P<field>[a-z_]+)-(?P<position>\d+)\.\w+$")


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"wan:x:(?P<job>\d+)"):
    """Base: parses the job id, loads the job, and routes every error to the tree's handler."""

    action = "x"
    label = ""
    style = discord.ButtonStyle.secondary
    emoji: str | None = None

    def __init__(self, job_id: int, *, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=self.label,
                style=self.style,
                emoji=self.emoji,
                row=row,
                custom_id=f"wan:{self.action}:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Button[Any],
        match: re.Match[str],
    ) -> JobButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction[WanBot]) -> None:
        try:
            job = await interaction.client.store.get_job(self.job_id)
            if job is None:
                raise UserFacingError(
                    f"Job #{self.job_id} no longer exists, so there is nothing to do here."
                )
            await self.act(interaction, job)
        except Exception as exc:  # a button has no command tree: answer here
            await answer_error(interaction, exc)

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        raise NotImplementedError


def _may_manage(interaction: discord.Interaction[Any], job: Job) -> bool:
    permissions = interaction.permissions
    return interaction.user.id == job.user_id or permissions.manage_messages


class CancelButton(JobButton, template=r"wan:cancel:(?P<job>\d+)"):
    action = "cancel"
    label = "Cancel"
    style = discord.ButtonStyle.danger

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        if not _may_manage(interaction, job):
            raise UserFacingError(
                "Only the member who asked, or someone with Manage Messages, can cancel this."
            )
        await cancel_generation(interaction, job)


class RetryButton(JobButton, template=r"wan:retry:(?P<job>\d+)"):
    """Run the same settings again (same seed: a retry of what failed or went missing)."""

    action = "retry"
    label = "Retry"
    emoji = "🔁"
    new_seed = False

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        order = await order_from_job(interaction.client, job)
        if self.new_seed:
            order.options["seed"] = new_seed()
        await start_generation(interaction, order)


class VaryButton(RetryButton, template=r"wan:vary:(?P<job>\d+)"):
    """Same settings, new seed."""

    action = "vary"
    label = "Vary"
    emoji = "🎲"
    new_seed = True


class DeleteButton(JobButton, template=r"wan:delete:(?P<job>\d+)"):
    action = "delete"
    label = "Delete"
    emoji = "🗑️"

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        if not _may_manage(interaction, job):
            raise UserFacingError(
                "Only the member who asked, or someone with Manage Messages, can delete this."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.message is not None:
            await interaction.message.delete()
        await interaction.edit_original_response(content=f"Deleted the result of job #{job.id}.")


class AnimateButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"wan:animate:(?P<job>\d+):(?P<index>\d)",
):
    """On image results: turn one of the images into a video with /wan-i2v-flash."""

    def __init__(self, job_id: int, index: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Animate {index + 1}",
                emoji="🎬",
                style=discord.ButtonStyle.primary,
                row=1,
                custom_id=f"wan:animate:{job_id}:{index}",
            )
        )
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Button[Any],
        match: re.Match[str],
    ) -> AnimateButton:
        return cls(int(match["job"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[WanBot]) -> None:
        job = await interaction.client.store.get_job(self.job_id)
        if job is None:
            await answer_error(
                interaction,
                UserFacingError(
                    f"Job #{self.job_id} no longer exists, so there is nothing to animate."
                ),
            )
            return
        await interaction.response.send_modal(AnimateModal(job, self.index))


class AnimateModal(discord.ui.Modal, title="Animate this image"):
    prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
        label="How should it move?",
        style=discord.TextStyle.paragraph,
        max_length=800,
        placeholder="The camera slowly pushes in as leaves drift past",
    )

    def __init__(self, job: Job, index: int) -> None:
        super().__init__(custom_id=f"wan:animate-modal:{job.id}:{index}")
        self.job = job
        self.index = index

    async def on_submit(self, interaction: discord.Interaction[WanBot]) -> None:
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            image = await _result_image(interaction, self.job, self.index)
            await start_generation(
                interaction,
                GenerationOrder(
                    model_id="wan2.2-i2v-flash",
                    options={"prompt": self.prompt.value},
                    images={"image": [image]},
                    parent_job_id=self.job.id,
                ),
            )
        except Exception as exc:
            await answer_error(interaction, exc)


async def _result_image(
    interaction: discord.Interaction[WanBot], job: Job, index: int
) -> InputImage:
    """The ``index``-th image of a result: from the result message, else the provider link."""
    message = interaction.message
    attachments = [
        a
        for a in (message.attachments if message else [])
        if (a.content_type or "").startswith("image/")
    ]
    if index < len(attachments):
        url, name = attachments[index].url, attachments[index].filename
    elif index < len(job.result_urls):
        url, name = job.result_urls[index], f"result-{index + 1}.png"
    else:
        raise UserFacingError("That image is no longer available.")
    try:
        data = await download(
            interaction.client.http_session, url, max_bytes=MAX_INPUT_DOWNLOAD_BYTES, name=name
        )
    except MediaRejected as exc:
        raise UserFacingError(exc.user_message) from None
    return InputImage(name, data)


async def order_from_job(bot: WanBot, job: Job) -> GenerationOrder:
    """The order that made ``job``, with its input images found again.

    Inputs are read from the bot's own files while the job still has them, else from the
    attachments of the job's status message (posted there for exactly this).
    """
    spec = spec_for(job.model_id, ProviderName(job.provider))
    media = spec.request_type.media_fields()
    options = {
        name: value
        for name, value in job.request.items()
        if name not in media or media[name] is MediaRole.AUDIO_URL
    }
    images: dict[str, list[InputImage]] = {}
    wanted = {
        name: job.request[name]
        for name in media
        if media[name] is not MediaRole.AUDIO_URL and job.request.get(name) is not None
    }
    if not wanted:
        return GenerationOrder(job.model_id, options, parent_job_id=job.id)
    on_disk = await _inputs_on_disk(bot, wanted)
    if on_disk is not None:
        images = on_disk
    else:
        images = await _inputs_from_status_message(bot, job, wanted)
    return GenerationOrder(job.model_id, options, images=images, parent_job_id=job.id)


async def _inputs_on_disk(
    bot: WanBot, wanted: dict[str, Any]
) -> dict[str, list[InputImage]] | None:
    images: dict[str, list[InputImage]] = {}
    for name, value in wanted.items():
        refs = value if isinstance(value, list) else [value]
        images[name] = []
        for position, ref in enumerate(refs):
            sha = str(ref).removeprefix(INPUT_PREFIX)
            try:
                data = bot.engine.inputs.read(sha)
            except (OSError, ValueError):
                return None
            images[name].append(InputImage(f"{name}-{position + 1}", data))
    return images


async def _inputs_from_status_message(
    bot: WanBot, job: Job, wanted: dict[str, Any]
) -> dict[str, list[InputImage]]:
    if job.channel_id is None or job.status_message_id is None:
        raise UserFacingError(
            "The input images of this job are no longer available; run the command again with them."
        )
    try:
        channel = bot.get_channel(job.channel_id) or await bot.fetch_channel(job.channel_id)
        assert isinstance(channel, discord.abc.Messageable)
        message = await channel.fetch_message(job.status_message_id)
    except (discord.NotFound, discord.Forbidden):
        raise UserFacingError(
            "The status message with this job's input images was deleted; "
            "run the command again with them."
        ) from None
    found: dict[str, dict[int, InputImage]] = {}
    for attachment in message.attachments:
        match = _INPUT_NAME.match(attachment.filename)
        if match is None:
            continue
        try:
            data = await download(
                bot.http_session,
                attachment.url,
                max_bytes=MAX_INPUT_DOWNLOAD_BYTES,
                name=attachment.filename,
            )
        except MediaRejected as exc:
            raise UserFacingError(exc.user_message) from None
        found.setdefault(match["field"], {})[int(match["position"])] = InputImage(
            attachment.filename, data
        )
    images = {}
    for name, value in wanted.items():
        count = len(value) if isinstance(value, list) else 1
        got = found.get(name, {})
        if len(got) < count:
            raise UserFacingError(
                "The input images of this job are no longer available; run "
                "the command again with them."
            )
        images[name] = [got[position] for position in sorted(got)][:count]
    return images


# --- views ------------------------------------------------------------------------------------


def status_view(job: Job) -> discord.ui.View | None:
    """Cancel while the job can still be cancelled; nothing once it ended."""
    if job.state not in GENERATING_STATES:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id))
    return view


def result_view(job: Job, image_count: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RetryButton(job.id, row=0))
    view.add_item(VaryButton(job.id, row=0))
    view.add_item(DeleteButton(job.id, row=0))
    if job.unit == "image":
        for index in range(min(image_count, 4)):
            view.add_item(AnimateButton(job.id, index))
    return view


def notice_view(job: Job) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RetryButton(job.id))
    return view


DYNAMIC_ITEMS = (CancelButton, RetryButton, VaryButton, DeleteButton, AnimateButton)
