"""The generation pipeline every model's command shares: acknowledge, check, reserve, announce.

Why this module exists: the four generation commands differ only in their options. Everything
else is the same and must be right every time:

1. acknowledge within Discord's 3 seconds, ephemerally, before anything slow;
2. check attachments (type and size from Discord's metadata, then the bytes), repair what can be
   repaired, validate the typed request, and reserve the budget; options the member left out
   take the server's defaults (:mod:`bot.defaults`), and options dearer than those are priced
   and confirmed by the member before anything is downloaded — every refusal is an edit of the
   ephemeral acknowledgement that says what to change, and nothing is charged or sent upstream;
   from the first download until the job is stored an order holds one of a few process-wide
   slots (:data:`MAX_ORDERS_HOLDING_INPUTS`), so a burst of members never holds every file;
3. post the public status message through the channel (never through the 15-minute
   interaction token) and hand the job to the engine.

The same path serves Retry, Vary, Animate and Extend buttons (Extend first shows its prices,
from :func:`quote_generation`), so a button behaves exactly like the command it repeats;
:func:`order_from_job` rebuilds the order of an earlier job, finding its input images again
(the bot's own copy while it has one, else the status message's attachments).

What it must never do: charge or send anything before every check has passed, or say "nothing
was charged" once the job exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import random
import re
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import discord

from bot import defaults
from bot.availability import models_off
from bot.catalog import (
    SEED_MAX,
    MediaRole,
    ModelSpec,
    RequestInvalid,
    resolve,
    spec_for,
)
from bot.config import ProviderName
from bot.discord_ui.audit import post_audit
from bot.discord_ui.checks import is_staff
from bot.discord_ui.deliverer import DiscordDeliverer
from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.translator import use_member_locale
from bot.i18n import N_, _, message_of
from bot.jobs.budget import ReservationRefused
from bot.jobs.engine import EngineStopping
from bot.jobs.records import GuildConfig, Job
from bot.jobs.states import JobState
from bot.log_context import add_log_context
from bot.media import (
    MAX_CONCURRENT_DECODES,
    MAX_INPUT_DOWNLOAD_BYTES,
    MediaRejected,
    check_audio,
    check_audio_metadata,
    download,
    megabytes,
)
from bot.orders import (
    InputImage,
    OrderRefused,
    PreparedInput,
    build_request,
    check_options,
    plain_options,
    prepare_images,
)
from bot.policy import PolicyRefusal, blocked_term, check_policy
from bot.pricing import format_usd
from bot.wording import STATE_WORDS

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/webp", "image/x-ms-bmp")
_INPUT_NAME = re.compile(r"^input-(?P<field>[a-z_]+)-(?P<position>\d+)\.\w+$")

MAX_ORDERS_HOLDING_INPUTS = 2 * MAX_CONCURRENT_DECODES
"""Orders with images between their first download and their job being stored, in the whole
process. Each holds its files, their checked copies and the request's ``data:`` URIs (about
three times the files' size); a burst of members waits here instead, holding nothing. Enough
to keep the decode pool fed while others are being built and stored (twice the pool: three
times held ~60 MB more in ``bench/image_burst.py`` and was no faster). After it, an order
holds open files, not images (:func:`_preview_files`)."""

_input_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def _holding_inputs(order: GenerationOrder) -> AsyncIterator[None]:
    """One of :data:`MAX_ORDERS_HOLDING_INPUTS` slots (per event loop) for an order with
    images, in arrival order; an order without any goes straight through."""
    if not (order.attachments or order.images):
        yield
        return
    loop = asyncio.get_running_loop()
    slots = _input_slots.get(loop)
    if slots is None:
        slots = _input_slots[loop] = asyncio.Semaphore(MAX_ORDERS_HOLDING_INPUTS)
    async with slots:
        yield


@dataclass
class GenerationOrder:
    """What a command (or a button) asks for: a model, its plain options, and its media."""

    model_id: str
    options: dict[str, Any]
    attachments: dict[str, list[discord.Attachment]] = field(default_factory=dict)
    images: dict[str, list[InputImage]] = field(default_factory=dict)
    audio: discord.Attachment | None = None
    parent_job_id: int | None = None
    # A command asks before spending more than the server's default settings would; a button
    # repeating an earlier job's settings does not ask again.
    confirm_dearer: bool = True
    # The message (in the same channel) the public status message replies to: Extend's status,
    # and so its result, hang under the result they continue.
    reply_to: int | None = None


async def start_generation(interaction: discord.Interaction[WanBot], order: GenerationOrder) -> Job:
    """Run the whole flow for one order; raises :class:`UserFacingError` on any refusal."""
    add_log_context(guild_id=interaction.guild_id, model=order.model_id)  # this task's lines
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    bot = interaction.client
    spec, fields, server_defaults, cost, config = await _checked(interaction, order)
    assert interaction.guild is not None  # _checked refused an order outside a server
    assert interaction.channel is not None
    if order.confirm_dearer:
        await _confirm_if_dearer(interaction, spec, fields, server_defaults, cost)
    approval_hours = _approval_hours(interaction, config, cost)
    async with _holding_inputs(order):  # from the first download until the job is stored
        try:
            sources = dict(order.images)
            for name, attachments in order.attachments.items():
                sources[name] = [await _fetch_image(bot, attachment) for attachment in attachments]
            images = await prepare_images(spec, sources)
        except OrderRefused as exc:
            raise UserFacingError(message_of(exc), reason="invalid_media") from None
        audio_url = None if order.audio is None else await _checked_audio(bot, order.audio)
        notes = [f"{item.source.name}: {note}" for item in images for note in item.image.notes]
        try:
            request, media = build_request(spec, fields, images, audio_url=audio_url)
        except RequestInvalid as exc:
            problems = "\n".join(f"• {problem}" for problem in exc.problems)
            raise UserFacingError(problems, reason="invalid_request") from None
        try:
            job = await bot.engine.submit(
                user_id=interaction.user.id,
                guild_id=interaction.guild.id,
                channel_id=interaction.channel.id,
                spec=spec,
                request=request,
                media=media,
                parent_job_id=order.parent_job_id,
                approval_hours=approval_hours,
            )
        except ReservationRefused as exc:
            raise UserFacingError(message_of(exc)) from None
        except EngineStopping as exc:
            raise UserFacingError(_("The bot is restarting ({why}).").format(why=exc)) from None
        del request, media  # stored: its data: URIs (4/3 of each image) need not outlive this
        # The stored copies, opened before anything else runs (the provider may accept the
        # task and the bot delete its copy at the next await: an open file outlives that):
        # from here to the status post the order holds file handles, not the images.
        previews = _preview_files(bot, job, images)
        del images, sources
    # From here on the job exists and will be charged: failures below must not say otherwise.
    status: discord.Message | None = None
    try:
        status = await _post_status(bot, interaction, job, previews, reply_to=order.reply_to)
        status_url: str | None = status.jump_url
        follow = _("Follow it here: {link}").format(link=status_url)
    except discord.HTTPException as exc:
        log.warning("job %d: status message not posted (%s)", job.id, exc)
        status_url, follow = None, _("The result will be posted in this channel.")
    finally:
        for preview in previews:
            preview.fp.close()
    text = [_accepted_text(job, config, follow)]
    text += [f"• {note}" for note in notes]
    try:
        await interaction.edit_original_response(content="\n".join(text))
    finally:
        # The member has what they need once the message is posted; recording it (a write
        # behind every other in the store's queue) and catching up come after the reply.
        if status is not None:
            await _track_status(bot, job, status)
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


def _approval_hours(
    interaction: discord.Interaction[WanBot], config: GuildConfig, cost: Decimal
) -> float | None:
    """How long the job may wait for a staff decision, or ``None`` when it needs none: its
    estimate is at or below the server's threshold, the member has an exempt role, or the
    member is staff (who decide)."""
    roles = {role.id for role in getattr(interaction.user, "roles", ())}
    policy = config.policy
    if is_staff(interaction) or not policy.needs_approval(cost, roles):
        return None
    if policy.approval_destination is None:
        raise UserFacingError(
            _(
                "This server asks staff to approve generations above {threshold}, but has no "
                "channel for the requests. Ask the server staff, or choose cheaper settings."
            ).format(threshold=format_usd(policy.approval_above or Decimal(0))),
            reason="approval_unavailable",
        )
    return policy.approval_expire_hours


def _accepted_text(job: Job, config: GuildConfig, follow: str) -> str:
    """The member's private answer once the job exists: started, queued, or waiting."""
    estimate = format_usd(job.estimated_cost)
    if job.state is JobState.QUEUED:
        ahead = job.queue_ahead or 0
        place = (
            _("next in your queue") if ahead == 0 else _("{ahead} ahead of you").format(ahead=ahead)
        )
        return _(
            "Queued as job #{job} ({place}): your generation slots are full, so it starts by "
            "itself when one of them finishes. Estimated {cost}, reserved now; cancel it for "
            "free until it starts. {follow}"
        ).format(job=job.id, place=place, cost=estimate, follow=follow)
    if job.state is JobState.AWAITING_APPROVAL:
        threshold = format_usd(config.policy.approval_above or Decimal(0))
        hours = config.policy.approval_expire_hours
        return _(
            "Job #{job} is waiting for staff approval: its estimate ({cost}) is above this "
            "server's {threshold} threshold. The estimate is reserved meanwhile; if nobody "
            "decides within {hours} hour(s) it lapses and nothing is charged. {follow}"
        ).format(job=job.id, cost=estimate, threshold=threshold, hours=f"{hours:g}", follow=follow)
    return _("Queued as job #{job}: estimated {cost}. {follow}").format(
        job=job.id, cost=estimate, follow=follow
    )


async def quote_generation(
    interaction: discord.Interaction[WanBot], order: GenerationOrder
) -> Decimal:
    """The estimate of ``order`` for this member, after every check that needs no download:
    the server's rules, defaults, limits and budgets, exactly as :func:`start_generation`
    applies them (and refuses, with the same :class:`UserFacingError`). For a button that shows
    prices before anything starts (Extend); nothing is downloaded, reserved or sent."""
    checked = await _checked(interaction, order)
    return checked[3]


async def _checked(
    interaction: discord.Interaction[WanBot], order: GenerationOrder
) -> tuple[ModelSpec, dict[str, Any], dict[str, defaults.Value], Decimal, GuildConfig]:
    """The checks before any download: where, which model, the options with the server's
    defaults filled in, the server's rules for this member, and the estimate against their
    limits and budgets. Returns the spec, the fields, the server's defaults, the estimate and
    the server's settings (read once)."""
    bot = interaction.client
    if interaction.guild is None or interaction.channel is None:
        raise UserFacingError(
            _("Generations run in a server channel, not in direct messages."),
            reason="not_in_server",
        )
    spec = resolve(order.model_id, bot.settings)
    if (off := models_off(bot.settings).get(order.model_id)) is not None:
        raise UserFacingError(
            off.refusal, reason="model_off"
        )  # its provider has no key: nothing to send it to
    _check_bot_can_post(interaction)
    fields = plain_options(order.options)
    config = await bot.store.guild_config(interaction.guild.id)
    server_defaults = dict(config.policy.option_defaults.get(spec.model_id, {}))
    if config.policy.safety_locked or not _age_restricted(interaction.channel):
        # A server's "safety filter off" is for where it may be off: elsewhere a member who
        # leaves the option out gets the filter, not a refusal.
        server_defaults.pop("safety_filter", None)
    try:
        fields = defaults.fill(spec, check_options(spec, fields), server_defaults)
        await _check_policy(interaction, spec, fields, config)
        cost = defaults.estimate(bot.engine.prices, spec, fields)  # images never change it
        try:  # the member's limits and budgets, before any attachment is downloaded or decoded
            await bot.engine.precheck(
                user_id=interaction.user.id, guild_id=interaction.guild.id, estimate=cost
            )
        except ReservationRefused as exc:
            raise UserFacingError(message_of(exc)) from None
    except OrderRefused as exc:
        raise UserFacingError(message_of(exc), reason="invalid_options") from None
    return spec, fields, server_defaults, cost, config


CONFIRM_SECONDS = 120.0
"""How long a member has to accept a dearer setting before the order lapses (nothing spent)."""


class PriceChoice(discord.ui.View):
    """One button per priced choice ("Generate for $X", "Extend with <model> — $X") and
    Cancel, under the member's own ephemeral reply; only that member may click, and only the
    first click counts. ``chosen`` is the choice's value (``None``: cancelled, or no answer
    within :data:`CONFIRM_SECONDS`, which :meth:`wait` reports)."""

    def __init__(self, member_id: int, choices: list[tuple[str, str]]) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.member_id = member_id
        self.chosen: str | None = None
        for label, value in choices:
            go: discord.ui.Button[PriceChoice] = discord.ui.Button(
                label=label, style=discord.ButtonStyle.primary
            )
            go.callback = self._answer(value)  # type: ignore[method-assign]
            self.add_item(go)
        stop: discord.ui.Button[PriceChoice] = discord.ui.Button(
            label=_("Cancel"), style=discord.ButtonStyle.secondary
        )
        stop.callback = self._answer(None)  # type: ignore[method-assign]
        self.add_item(stop)

    def _answer(self, value: str | None) -> Any:
        async def callback(interaction: discord.Interaction[WanBot]) -> None:
            if self.is_finished():  # a second click racing the first
                await interaction.response.defer()
                return
            self.chosen = value
            if value is not None:
                await interaction.response.edit_message(content=_("Starting…"), view=None)
            else:  # the flow's error answer says so, in the same place
                await interaction.response.defer()
            self.stop()

        return callback

    async def interaction_check(self, interaction: discord.Interaction[WanBot]) -> bool:  # type: ignore[override]
        use_member_locale(interaction)  # a click runs in a task of its own (bot.i18n)
        return interaction.user.id == self.member_id


async def _confirm_if_dearer(
    interaction: discord.Interaction[WanBot],
    spec: ModelSpec,
    fields: dict[str, Any],
    server_defaults: dict[str, defaults.Value],
    cost: Decimal,
) -> None:
    """When the member's options cost ``cost``, more than the server's default settings
    would, show both prices and wait for the member to accept; declining or not answering
    ends the order before anything is downloaded, reserved or sent."""
    prices = interaction.client.engine.prices
    usual = defaults.estimate(prices, spec, defaults.at_defaults(spec, fields, server_defaults))
    if cost <= usual:
        return
    view = PriceChoice(
        interaction.user.id,
        [(_("Generate for {price}").format(price=format_usd(cost)), "go")],
    )
    await interaction.edit_original_response(
        content=_(
            "These settings are estimated at **{cost}**; this server's default settings for "
            "{model} ({defaults}) cost {usual}. Generate anyway?"
        ).format(
            cost=format_usd(cost),
            model=spec.model_id,
            defaults=defaults.describe_all(spec, server_defaults),
            usual=format_usd(usual),
        ),
        view=view,
    )
    if await view.wait():  # timed out
        raise UserFacingError(
            _("No answer within {seconds} seconds: nothing was started or charged.").format(
                seconds=f"{CONFIRM_SECONDS:.0f}"
            ),
            reason="not_confirmed",
        )
    if view.chosen is None:
        raise UserFacingError(
            _(
                "Cancelled: nothing was started or charged. Leave the options out to use this "
                "server's defaults."
            ),
            reason="not_confirmed",
        )


async def _check_policy(
    interaction: discord.Interaction[WanBot],
    spec: ModelSpec,
    fields: dict[str, Any],
    config: GuildConfig,
) -> None:
    """The server's rules (channels, roles, models, safety, blocklist); blocklist hits are
    audited with the full prompt, while the member is not shown the matched word."""
    assert interaction.guild is not None
    assert interaction.channel is not None
    member = interaction.user
    roles = {role.id for role in getattr(member, "roles", ())}
    # Every piece of text the request sends upstream (prompt, negative prompt, template name…);
    # image and audio references are not text.
    media = spec.request_type.media_fields()
    texts = [
        value for name, value in fields.items() if isinstance(value, str) and name not in media
    ]
    try:
        check_policy(
            config.policy,
            model_id=spec.model_id,
            channel_id=interaction.channel.id,
            parent_channel_id=getattr(interaction.channel, "parent_id", None),
            role_ids=roles,
            is_staff=is_staff(interaction),
            age_restricted=_age_restricted(interaction.channel),
            safety_filter=fields.get("safety_filter"),
            texts=texts,
        )
    except PolicyRefusal as exc:
        if exc.audit:
            matched = blocked_term(config.policy, *texts)
            await post_audit(
                interaction.client,
                interaction.guild.id,
                "Refused by the blocklist",
                user_id=member.id,
                model_id=spec.model_id,
                prompt=fields.get("prompt"),
                note=f"matched: {matched}",
            )
        raise UserFacingError(message_of(exc), reason=f"policy_{exc.reason}") from None


def _age_restricted(channel: object) -> bool:
    """Age-restricted channels, and threads whose parent channel is age-restricted."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def _check_bot_can_post(interaction: discord.Interaction[WanBot]) -> None:
    perms = interaction.app_permissions
    missing = [
        name
        for name, ok in (
            (N_("View Channel"), perms.view_channel),
            (N_("Send Messages"), perms.send_messages),
            (N_("Embed Links"), perms.embed_links),
            (N_("Attach Files"), perms.attach_files),
        )
        if not ok
    ]
    if missing:
        raise UserFacingError(
            _(
                "I can't post results in this channel (missing: {permissions}). Ask the server "
                "staff, or use another channel."
            ).format(permissions=", ".join(_(name) for name in missing))
        )


async def _fetch_image(bot: WanBot, attachment: discord.Attachment) -> InputImage:
    declared = (attachment.content_type or "").split(";")[0].strip().lower()
    if declared and not declared.startswith("image/"):
        raise UserFacingError(
            _("{file} isn't an image ({type}). Attach a JPEG, PNG, BMP or WEBP picture.").format(
                file=attachment.filename, type=declared
            )
        )
    if attachment.size > MAX_INPUT_DOWNLOAD_BYTES:
        raise UserFacingError(
            _("{file} is {size}; images may be at most {limit}. Attach a smaller file.").format(
                file=attachment.filename,
                size=megabytes(attachment.size),
                limit=megabytes(MAX_INPUT_DOWNLOAD_BYTES),
            )
        )
    return await _download_image(bot, attachment.url, attachment.filename)


async def _download_image(bot: WanBot, url: str, name: str) -> InputImage:
    """An input image from Discord's CDN or a provider link, size-capped; refusals worded."""
    try:
        data = await download(bot.http_session, url, max_bytes=MAX_INPUT_DOWNLOAD_BYTES, name=name)
    except MediaRejected as exc:
        raise UserFacingError(exc.user_message, reason="invalid_media") from None
    return InputImage(name, data)


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
        raise UserFacingError(exc.user_message, reason="invalid_media") from None
    return attachment.url


def _preview_files(bot: WanBot, job: Job, images: list[PreparedInput]) -> list[discord.File]:
    """The job's input images as attachments for its status message, streamed from the bot's
    stored copies (the bytes sent upstream); a copy that cannot be opened is attached from
    memory instead."""
    previews = []
    for item in images:
        value = job.request.get(item.field)
        reference = value[item.position] if isinstance(value, list) else value
        try:
            handle: io.BufferedIOBase = bot.engine.inputs.open(str(reference))
        except (OSError, ValueError):
            handle = io.BytesIO(item.image.raw)
        previews.append(discord.File(handle, filename=item.preview_name))
    return previews


async def _post_status(
    bot: WanBot,
    interaction: discord.Interaction[WanBot],
    job: Job,
    previews: list[discord.File],
    *,
    reply_to: int | None = None,
) -> discord.Message:
    """The public status message, posted through the channel so it outlives the token; the
    caller then hands it to :func:`_track_status`. ``reply_to``: a message of this channel it
    replies to (posted without the reply if that message is gone).

    Input images ride along as attachments (``previews``, :func:`_preview_files`): staff see
    what was submitted, and Retry reads them back from here after the provider accepted the
    task and the bot deleted its own copy.
    """
    channel = interaction.channel
    assert isinstance(channel, discord.abc.Messageable)
    # The Discord bot's deliverer is always the Discord one (bot.discord_ui.app): the status
    # post takes its turn with the channel's writer like every other write there.
    deliverer = bot.deliverer
    assert isinstance(deliverer, DiscordDeliverer)
    # In the server's language, as a reply to ``reply_to`` when given.
    return await deliverer.post_status(channel, job, previews, reply_to=reply_to)


async def _track_status(bot: WanBot, job: Job, message: discord.Message) -> None:
    """Record the posted status message of ``job``, and bring it up to date if the job moved
    on while it was being posted."""
    await bot.store.set_status_message(job.id, message.id)
    # The engine went on meanwhile, and told the deliverer of changes it had no message id to
    # edit: a create refused at once would show "Queued" for good. Catch up from the store.
    current = await bot.store.get_job(job.id)
    if current is not None and (current.state, current.progress) != (job.state, job.progress):
        await bot.deliverer.job_changed(current)


async def cancel_generation(interaction: discord.Interaction[WanBot], job: Job) -> None:
    """Cancel ``job`` for the member who clicked or typed; say what it cost; audit it.

    The caller has checked that this member may cancel it.
    """
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    cancelled_from = await interaction.client.engine.cancel(job.id, interaction.user.id)
    if cancelled_from is None:
        raise UserFacingError(
            _("Job #{job} can't be cancelled now ({state}).").format(
                job=job.id, state=_(STATE_WORDS[job.state].short)
            )
        )
    if cancelled_from is JobState.RUNNING:
        text = _(
            "Cancelled job #{job}. It was already running at the provider, which still bills "
            "it, so the estimate stays charged."
        ).format(job=job.id)
    elif cancelled_from.waiting:
        text = _("Cancelled job #{job} before it started. Nothing was charged.").format(job=job.id)
    else:
        text = _("Cancelled job #{job} before it was sent. Nothing was charged.").format(job=job.id)
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


async def result_image(
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
        raise UserFacingError(_("That image is no longer available."))
    return await _download_image(interaction.client, url, name)


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
        return GenerationOrder(job.model_id, options, parent_job_id=job.id, confirm_dearer=False)
    on_disk = await _inputs_on_disk(bot, wanted)
    if on_disk is not None:
        images = on_disk
    else:
        images = await _inputs_from_status_message(bot, job, wanted)
    return GenerationOrder(
        job.model_id, options, images=images, parent_job_id=job.id, confirm_dearer=False
    )


async def _inputs_on_disk(
    bot: WanBot, wanted: dict[str, Any]
) -> dict[str, list[InputImage]] | None:
    images: dict[str, list[InputImage]] = {}
    for name, value in wanted.items():
        refs = value if isinstance(value, list) else [value]
        images[name] = []
        for position, ref in enumerate(refs):
            try:
                data = bot.engine.inputs.read(str(ref))
            except (OSError, ValueError):
                return None
            images[name].append(InputImage(f"{name}-{position + 1}", data))
    return images


_INPUTS_GONE = N_(
    "The input images of this job are no longer available; run the command again with them."
)


async def _inputs_from_status_message(
    bot: WanBot, job: Job, wanted: dict[str, Any]
) -> dict[str, list[InputImage]]:
    if job.channel_id is None or job.status_message_id is None:
        raise UserFacingError(_(_INPUTS_GONE))
    try:
        channel = bot.get_channel(job.channel_id) or await bot.fetch_channel(job.channel_id)
        assert isinstance(channel, discord.abc.Messageable)
        message = await channel.fetch_message(job.status_message_id)
    except (discord.NotFound, discord.Forbidden):
        raise UserFacingError(
            _(
                "The status message with this job's input images was deleted; run the command "
                "again with them."
            )
        ) from None
    found: dict[str, dict[int, InputImage]] = {}
    for attachment in message.attachments:
        match = _INPUT_NAME.match(attachment.filename)
        if match is None:
            continue
        found.setdefault(match["field"], {})[int(match["position"])] = await _download_image(
            bot, attachment.url, attachment.filename
        )
    images = {}
    for name, value in wanted.items():
        count = len(value) if isinstance(value, list) else 1
        got = found.get(name, {})
        if len(got) < count:
            raise UserFacingError(_(_INPUTS_GONE))
        images[name] = [got[position] for position in sorted(got)][:count]
    return images
