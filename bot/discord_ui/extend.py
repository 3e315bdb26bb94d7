"""Extend: carry on a video result from its last frame, as a new image-to-video job.

Why this module exists: a member who likes a clip wants the next few seconds of it. After the
Extend modal (:mod:`bot.discord_ui.buttons`) this module

1. prices the extension for the member who clicked, on each image-to-video model this server
   lets them use (wan2.6-i2v, and wan2.2-i2v-flash when it is on), through
   :func:`~bot.discord_ui.generation.quote_generation`: the server's rules, defaults, limits
   and budgets refuse here exactly as a command would, before anything is downloaded;
2. downloads the result's video (the clicked message's attachment, else the file on the
   result as first posted, for a ``/jobs show`` repost, else the provider's link), capped at
   :data:`~bot.media.frames.MAX_VIDEO_BYTES`, and takes its last frame on the decode pool
   (:mod:`bot.media.frames`); at most :data:`~bot.media.MAX_CONCURRENT_DECODES` videos are
   held at once in the process;
3. shows the prices on the member's private reply, one button a model, and starts the job only
   on their choice, through :func:`~bot.discord_ui.generation.start_generation` with the frame
   as the job's input image (so Retry of the extension finds the same first frame again, on
   disk or on its status message), ``parent_job_id`` the extended job, and its status message
   replying to the extended result, so a chain of clips reads as one thread.

What it must never do: download, reserve or send anything before the member's own checks have
passed, or start or charge anything before they chose a price; decode a video on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import discord

from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.generation import (
    CONFIRM_SECONDS,
    GenerationOrder,
    PriceChoice,
    quote_generation,
    start_generation,
)
from bot.i18n import _, message_of
from bot.jobs.records import Job
from bot.media import (
    MAX_CONCURRENT_DECODES,
    MAX_VIDEO_BYTES,
    LastFrame,
    MediaRejected,
    download,
    last_frame_async,
    megabytes,
)
from bot.orders import InputImage
from bot.pricing import format_usd

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

EXTEND_MODELS = ("wan2.6-i2v", "wan2.2-i2v-flash")
"""The image-to-video models an extension may run on, in the order they are offered."""

FRAME_NAME = "last-frame.png"

# Refusals that concern one model (turned off, its price over a budget, an option it lacks):
# the other model may still be offered. Any other refusal (channel, role, blocklist, cooldown
# worded by reason) ends the extension for both at once, and is audited once.
_MODEL_OFF = frozenset({"model_off", "policy_model"})
_PER_MODEL = _MODEL_OFF | {"invalid_options", None}

_video_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def _holding_video() -> AsyncIterator[None]:
    """One of :data:`MAX_CONCURRENT_DECODES` slots (per event loop) from a video's download
    to its last frame: a video may be 100 MB, and the decode pool takes two at a time anyway."""
    loop = asyncio.get_running_loop()
    slots = _video_slots.get(loop)
    if slots is None:
        slots = _video_slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_DECODES)
    async with slots:
        yield


@dataclass(frozen=True, slots=True)
class Offer:
    """One model the member may extend with, at its estimate for them."""

    model_id: str
    cost: Decimal


async def extend_video(
    interaction: discord.Interaction[WanBot],
    job: Job,
    prompt: str,
    *,
    result_message_id: int | None,
    video: discord.Attachment | None,
) -> Job | None:
    """The whole Extend flow after the modal, for the member who submitted it. Returns the new
    job, or ``None`` if the member cancelled. Raises :class:`UserFacingError` on any refusal."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    offers, notes = await extend_offers(interaction, job, prompt)
    if video is None:  # clicked under a repost (/jobs show): the file is on the first post
        video = await posted_video(interaction.client, job)
    image, frame = await last_frame_of(interaction.client, job, video)
    choice = PriceChoice(
        interaction.user.id,
        [
            (
                _("Extend with {model} — {cost}").format(
                    model=offer.model_id, cost=format_usd(offer.cost)
                ),
                offer.model_id,
            )
            for offer in offers
        ],
    )
    await interaction.edit_original_response(
        content=offer_text(job, frame, offers, notes), view=choice
    )
    if await choice.wait():  # timed out
        raise UserFacingError(
            _("No answer within {seconds} seconds: nothing was started or charged.").format(
                seconds=f"{CONFIRM_SECONDS:.0f}"
            ),
            reason="not_confirmed",
        )
    if choice.chosen is None:
        raise UserFacingError(
            _("Cancelled: nothing was started or charged."), reason="not_confirmed"
        )
    return await start_generation(
        interaction,
        GenerationOrder(
            model_id=choice.chosen,
            options={"prompt": prompt},
            images={"image": [image]},
            parent_job_id=job.id,
            confirm_dearer=False,  # the member has just chosen this very price
            reply_to=result_message_id,
        ),
    )


async def extend_offers(
    interaction: discord.Interaction[WanBot], job: Job, prompt: str
) -> tuple[list[Offer], list[str]]:
    """The models this member may extend ``job`` with here, each at its estimate, and a line
    for each one refused for a reason of its own (a budget it breaks, an option it lacks). A
    model turned off is left out without a word; when none is left, the first refusal that
    says why is raised."""
    offers: list[Offer] = []
    notes: list[str] = []
    refusals: list[UserFacingError] = []
    for model_id in EXTEND_MODELS:
        order = GenerationOrder(model_id, {"prompt": prompt}, parent_job_id=job.id)
        try:
            offers.append(Offer(model_id, await quote_generation(interaction, order)))
        except UserFacingError as refused:
            if refused.reason not in _PER_MODEL:
                raise  # the same for every model: say it once
            refusals.append(refused)
            if refused.reason not in _MODEL_OFF:
                notes.append(_("{model}: {why}").format(model=model_id, why=message_of(refused)))
    if not offers:
        telling = [r for r in refusals if r.reason not in _MODEL_OFF]
        raise (telling or refusals)[0]
    return offers, notes


def video_attachment(message: discord.Message | None) -> discord.Attachment | None:
    """The video file posted on ``message``, if it has one (a result too large has links)."""
    for attachment in message.attachments if message is not None else ():
        declared = (attachment.content_type or "").split(";")[0].strip().lower()
        if declared.startswith("video/") or attachment.filename.lower().endswith(".mp4"):
            return attachment
    return None


async def posted_video(bot: WanBot, job: Job) -> discord.Attachment | None:
    """The video file of ``job``'s result as first posted in its channel, while that message
    is there (its attachment links are fresh from Discord on each read)."""
    if job.channel_id is None or not job.delivered_message_ids:
        return None
    try:
        channel = bot.get_channel(job.channel_id) or await bot.fetch_channel(job.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return None
        return video_attachment(await channel.fetch_message(job.delivered_message_ids[0]))
    except discord.HTTPException:  # deleted, or out of reach: the provider's link is next
        return None


async def last_frame_of(
    bot: WanBot, job: Job, video: discord.Attachment | None
) -> tuple[InputImage, LastFrame]:
    """The last frame of ``job``'s video, from the result message's attachment ``video``, else
    from the provider's link while it lasts, as the input image of an extension."""
    name = _("the video of job #{job}").format(job=job.id)
    if video is not None:
        if video.size > MAX_VIDEO_BYTES:
            raise UserFacingError(
                _(
                    "The video of job #{job} is {size}; videos up to {limit} can be extended."
                ).format(job=job.id, size=megabytes(video.size), limit=megabytes(MAX_VIDEO_BYTES)),
                reason="invalid_media",
            )
        url, source = video.url, "Discord"
    elif job.result_urls:
        url, source = job.result_urls[0], _("the provider")
    else:
        raise UserFacingError(
            _("The video of job #{job} is no longer available, so it can't be extended.").format(
                job=job.id
            )
        )
    try:
        async with _holding_video():
            data = await download(
                bot.http_session,
                url,
                max_bytes=MAX_VIDEO_BYTES,
                name=name,
                source=source,
                advice=_("try again later (provider links last about a day)."),
            )
            frame = await last_frame_async(
                data, name=_("The video of job #{job}").format(job=job.id)
            )
            del data  # the frame is all that is kept
    except MediaRejected as exc:
        raise UserFacingError(exc.user_message, reason="invalid_media") from None
    return InputImage(FRAME_NAME, frame.png), frame


def offer_text(job: Job, frame: LastFrame, offers: list[Offer], notes: list[str]) -> str:
    """The member's private question: what will be extended, from which frame, at what price."""
    size = f"{frame.source_width}×{frame.source_height}"
    if (frame.width, frame.height) != (frame.source_width, frame.source_height):
        size = _("{size}, sent as {width}×{height}").format(
            size=size, width=frame.width, height=frame.height
        )
    lines = [
        _(
            "Extend job #{job} from its last frame (at {seconds} s, {size}) with this server's "
            "default settings:"
        ).format(job=job.id, seconds=f"{frame.seconds:.1f}", size=size),
        *(
            _("• **{model}**: estimated {cost}").format(
                model=offer.model_id, cost=format_usd(offer.cost)
            )
            for offer in offers
        ),
        *(f"• {note}" for note in notes),
        _("Nothing is charged until you choose."),
    ]
    return "\n".join(lines)
