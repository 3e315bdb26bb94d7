"""The generation flow every model's command shares: acknowledge, check, reserve, announce.

Why this module exists: the four generation commands differ only in their options. Everything
else is the same and must be right every time:

1. acknowledge within Discord's 3 seconds, ephemerally, before anything slow;
2. check attachments (type and size from Discord's metadata, then the bytes), repair what can be
   repaired, validate the typed request, and reserve the budget — every refusal is an edit of the
   ephemeral acknowledgement that says what to change, and nothing is charged or sent upstream;
3. post the public status message through the channel (never through the 15-minute
   interaction token) and hand the job to the engine.

The same path serves Retry, Vary and Animate buttons, so a button behaves exactly like the
command it repeats.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.catalog import SEED_MAX, MediaRole, ModelSpec, RequestInvalid, resolve
from bot.discord_ui.audit import post_audit
from bot.discord_ui.embeds import status_embed
from bot.discord_ui.errors import UserFacingError
from bot.jobs.engine import EngineStopping
from bot.jobs.states import JobState
from bot.jobs.store import Job, ReservationRefused
from bot.media import (
    MAX_INPUT_DOWNLOAD_BYTES,
    MediaRejected,
    check_audio,
    check_audio_metadata,
    download,
    megabytes,
    prepare_image,
)
from bot.policy import PolicyRefusal, blocked_term, check_policy
from bot.pricing import format_usd

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/webp", "image/x-ms-bmp")


@dataclass(frozen=True)
class InputImage:
    """An image for a request: already-fetched bytes and a name to speak of it by."""

    name: str
    data: bytes


@dataclass
class GenerationOrder:
    """What a command (or a button) asks for: a model, its plain options, and its media."""

    model_id: str
    options: dict[str, Any]
    attachments: dict[str, list[discord.Attachment]] = field(default_factory=dict)
    images: dict[str, list[InputImage]] = field(default_factory=dict)
    audio: discord.Attachment | None = None
    parent_job_id: int | None = None


async def start_generation(interaction: discord.Interaction[WanBot], order: GenerationOrder) -> Job:
    """Run the whole flow for one order; raises :class:`UserFacingError` on any refusal."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    bot = interaction.client
    if interaction.guild is None or interaction.channel is None:
        raise UserFacingError("Generations run in a server channel, not in direct messages.")
    spec = resolve(order.model_id, bot.settings)
    _check_bot_can_post(interaction)
    fields = {name: value for name, value in order.options.items() if value is not None}
    _check_options(spec, fields)
    await _check_policy(interaction, spec, fields)
    notes: list[str] = []
    previews: list[discord.File] = []
    await _add_images(bot, spec, order, fields, notes, previews)
    if order.audio is not None:
        fields["audio_url"] = await _checked_audio(bot, order.audio)
    try:
        request = spec.parse(fields)
    except RequestInvalid as exc:
        raise UserFacingError("\n".join(f"• {problem}" for problem in exc.problems)) from None
    try:
        job = await bot.engine.submit(
            user_id=interaction.user.id,
            guild_id=interaction.guild.id,
            channel_id=interaction.channel.id,
            spec=spec,
            request=request,
            parent_job_id=order.parent_job_id,
        )
    except ReservationRefused as exc:
        raise UserFacingError(str(exc)) from None
    except EngineStopping as exc:
        raise UserFacingError(f"The bot is restarting ({exc}).") from None
    # From here on the job exists and will be charged: failures below must not say otherwise.
    try:
        status_url = (await _post_status(bot, interaction, job, previews)).jump_url
        follow = f"Follow it here: {status_url}"
    except discord.HTTPException as exc:
        log.warning("job %d: status message not posted (%s)", job.id, exc)
        status_url, follow = None, "The result will be posted in this channel."
    text = [f"Queued as job #{job.id}: estimated {format_usd(job.estimated_cost)}. {follow}"]
    text += [f"• {note}" for note in notes]
    await interaction.edit_original_response(content="\n".join(text))
    await post_audit(
        bot,
        interaction.guild.id,
        "Generation submitted",
        user_id=interaction.user.id,
        model_id=spec.model_id,
        prompt=fields.get("prompt"),
        cost=f"{format_usd(job.estimated_cost)} (estimated)",
        link=status_url,
        note=f"job #{job.id}",
    )
    log.info(
        "job %d: %s for user %d in guild %d",
        job.id,
        spec.model_id,
        interaction.user.id,
        interaction.guild.id,
    )
    return job


def _check_options(spec: ModelSpec, fields: dict[str, Any]) -> None:
    unsupported = sorted(set(fields) - set(spec.request_type.model_fields))
    if unsupported:
        names = ", ".join(name.replace("_", " ") for name in unsupported)
        raise UserFacingError(
            f"{names} can't be used here: this server runs {spec.model_id} "
            f"on {spec.provider}, which has no such option. Leave it out."
        )


async def _check_policy(
    interaction: discord.Interaction[WanBot], spec: ModelSpec, fields: dict[str, Any]
) -> None:
    """The server's rules (channels, roles, models, safety, blocklist); blocklist hits are
    audited with the full prompt, while the member is not shown the matched word."""
    assert interaction.guild is not None
    assert interaction.channel is not None
    member = interaction.user
    roles = {role.id for role in getattr(member, "roles", ())}
    is_staff = bool(getattr(member, "guild_permissions", discord.Permissions.none()).manage_guild)
    config = await interaction.client.store.guild_config(interaction.guild.id)
    try:
        check_policy(
            config.policy,
            model_id=spec.model_id,
            channel_id=interaction.channel.id,
            parent_channel_id=getattr(interaction.channel, "parent_id", None),
            role_ids=roles,
            is_staff=is_staff,
            age_restricted=_age_restricted(interaction.channel),
            safety_filter=fields.get("safety_filter"),
            prompt=fields.get("prompt"),
            negative_prompt=fields.get("negative_prompt"),
        )
    except PolicyRefusal as exc:
        if exc.audit:
            matched = blocked_term(
                config.policy, fields.get("prompt"), fields.get("negative_prompt")
            )
            await post_audit(
                interaction.client,
                interaction.guild.id,
                "Refused by the blocklist",
                user_id=member.id,
                model_id=spec.model_id,
                prompt=fields.get("prompt"),
                note=f"matched: {matched}",
            )
        raise UserFacingError(str(exc)) from None


def _age_restricted(channel: object) -> bool:
    """Age-restricted channels, and threads whose parent channel is age-restricted."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def _check_bot_can_post(interaction: discord.Interaction[WanBot]) -> None:
    perms = interaction.app_permissions
    missing = [
        name
        for name, ok in (
            ("View Channel", perms.view_channel),
            ("Send Messages", perms.send_messages),
            ("Embed Links", perms.embed_links),
            ("Attach Files", perms.attach_files),
        )
        if not ok
    ]
    if missing:
        raise UserFacingError(
            f"I can't post results in this channel (missing: "
            f"{', '.join(missing)}). Ask the server staff, or use another "
            "channel."
        )


async def _add_images(
    bot: WanBot,
    spec: ModelSpec,
    order: GenerationOrder,
    fields: dict[str, Any],
    notes: list[str],
    previews: list[discord.File],
) -> None:
    """Fetch, check and repair every image of the order into ``data:`` URIs in ``fields``."""
    media = spec.request_type.media_fields()
    sources: dict[str, list[InputImage]] = dict(order.images)
    for name, attachments in order.attachments.items():
        sources[name] = [await _fetch_image(bot, attachment) for attachment in attachments]
    for name, images in sources.items():
        role = media.get(name)
        if role is None or spec.image_bounds is None:
            raise UserFacingError(f"{spec.model_id} takes no {name.replace('_', ' ')}.")
        uris = []
        for position, image in enumerate(images):
            try:
                prepared = await asyncio.to_thread(
                    prepare_image, image.data, spec.image_bounds, name=image.name
                )
            except MediaRejected as exc:
                raise UserFacingError(exc.user_message) from None
            uris.append(prepared.data_uri)
            notes.extend(f"{image.name}: {note}" for note in prepared.notes)
            extension = prepared.mime.split("/")[-1].replace("jpeg", "jpg")
            previews.append(
                discord.File(
                    io.BytesIO(prepared.raw), filename=f"input-{name}-{position + 1}.{extension}"
                )
            )
        fields[name] = uris if role is MediaRole.IMAGES else uris[0]


async def _fetch_image(bot: WanBot, attachment: discord.Attachment) -> InputImage:
    declared = (attachment.content_type or "").split(";")[0].strip().lower()
    if declared and not declared.startswith("image/"):
        raise UserFacingError(
            f"{attachment.filename} isn't an image ({declared}). Attach a "
            "JPEG, PNG, BMP or WEBP picture."
        )
    if attachment.size > MAX_INPUT_DOWNLOAD_BYTES:
        raise UserFacingError(
            f"{attachment.filename} is {megabytes(attachment.size)}; images "
            f"may be at most {megabytes(MAX_INPUT_DOWNLOAD_BYTES)}. Attach a "
            "smaller file."
        )
    try:
        data = await download(
            bot.http_session,
            attachment.url,
            max_bytes=MAX_INPUT_DOWNLOAD_BYTES,
            name=attachment.filename,
        )
    except MediaRejected as exc:
        raise UserFacingError(exc.user_message) from None
    return InputImage(attachment.filename, data)


async def _checked_audio(bot: WanBot, attachment: discord.Attachment) -> str:
    """Check an audio attachment (type, size, then its real duration); return its URL."""
    try:
        check_audio_metadata(
            name=attachment.filename, size=attachment.size, content_type=attachment.content_type
        )
        data = await download(
            bot.http_session,
            attachment.url,
            max_bytes=attachment.size + 1,
            name=attachment.filename,
        )
        await asyncio.to_thread(check_audio, data, name=attachment.filename)
    except MediaRejected as exc:
        raise UserFacingError(exc.user_message) from None
    return attachment.url


async def _post_status(
    bot: WanBot, interaction: discord.Interaction[WanBot], job: Job, previews: list[discord.File]
) -> discord.Message:
    """The public status message, posted through the channel so it outlives the token.

    Input images ride along as attachments: staff see what was submitted, and Retry reads them
    back from here after the provider accepted the task and the bot deleted its own copy.
    """
    from bot.discord_ui.buttons import status_view

    channel = interaction.channel
    assert isinstance(channel, discord.abc.Messageable)
    message = await channel.send(
        embed=status_embed(job, eta=bot.engine.eta(job)),
        files=previews,
        view=status_view(job),
        allowed_mentions=discord.AllowedMentions.none(),
    )
    await bot.store.set_status_message(job.id, message.id)
    return message


async def cancel_generation(interaction: discord.Interaction[WanBot], job: Job) -> None:
    """Cancel ``job`` for the member who clicked or typed; say what it cost; audit it.

    The caller has checked that this member may cancel it.
    """
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    cancelled_from = await interaction.client.engine.cancel(job.id, interaction.user.id)
    if cancelled_from is None:
        raise UserFacingError(
            f"Job #{job.id} can't be cancelled now ({job.state.value.replace('_', ' ')})."
        )
    if cancelled_from is JobState.RUNNING:
        text = (
            f"Cancelled job #{job.id}. It was already running at the provider, which "
            "still bills it, so the estimate stays charged."
        )
    else:
        text = f"Cancelled job #{job.id} before it was sent. Nothing was charged."
    await interaction.edit_original_response(content=text)
    if job.guild_id is not None:
        charged = (
            f"{format_usd(job.estimated_cost)} (estimated, still billed)"
            if cancelled_from is JobState.RUNNING
            else "nothing"
        )
        await post_audit(
            interaction.client,
            job.guild_id,
            "Generation cancelled",
            user_id=interaction.user.id,
            model_id=job.model_id,
            prompt=job.request.get("prompt"),
            cost=charged,
            note=f"job #{job.id} of <@{job.user_id}>",
        )


def new_seed() -> int:
    return random.randint(0, SEED_MAX)
