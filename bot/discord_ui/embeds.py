"""What members see: the status, result and notice embeds, built from a job alone.

Why this module exists: every message about a job says the same things the same way (who asked,
which model, the settings that matter, what it cost and whether that figure is billed or
estimated), and the footer carries the job's marker, by which the deliverer recognises its own
posts after a crash. Pure functions: no I/O, easy to test.

What it must never do: put a member's words (the prompt, or a provider's reason that may echo
it) into an embed without :mod:`bot.discord_ui.markdown`, which keeps them from rendering as
links, mentions or formatting.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import discord

from bot.catalog import MediaRole, spec_for
from bot.config import ProviderName
from bot.discord_ui.markdown import excerpt
from bot.i18n import N_, _, stored
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.pricing import format_usd
from bot.providers.base import CONTENT_REFUSED, COULD_NOT_GENERATE
from bot.providers.errors import REJECTED
from bot.wording import STATE_WORDS, clock, queue_words, retry_words

PROMPT_EXCERPT = 300
_COLOURS = {
    "active": discord.Colour.blurple(),
    "done": discord.Colour.green(),
    "failed": discord.Colour.red(),
    "stopped": discord.Colour.light_grey(),
}


# How a request's option is named on a post (the API field's name, in words).
OPTION_LABELS: dict[str, str] = {
    "audio": N_("audio"),
    "duration": N_("duration"),
    "image": N_("image"),
    "images": N_("images"),
    "last_frame": N_("last frame"),
    "n": N_("n"),
    "prompt_extend": N_("prompt extend"),
    "resolution": N_("resolution"),
    "safety_filter": N_("safety filter"),
    "seed": N_("seed"),
    "shot_type": N_("shot type"),
    "size": N_("size"),
    "template": N_("template"),
    "watermark": N_("watermark"),
}


def option_label(name: str) -> str:
    """``prompt_extend`` -> ``prompt extend``, in the current language."""
    label = OPTION_LABELS.get(name)
    return _(label) if label is not None else name.replace("_", " ")


def marker(job_id: int, kind: str) -> str:
    """The footer text that identifies a post (``kind``: status, result, notice). Never
    translated: the deliverer finds its own posts by it, whatever language they speak."""
    return f"wanbot job #{job_id} · {kind}"


def model_title(job: Job) -> str:
    return spec_for(job.model_id, ProviderName(job.provider)).title


def settings_text(job: Job) -> str:
    """The options that shaped the result, one per line (prompt and media left out)."""
    spec = spec_for(job.model_id, ProviderName(job.provider))
    media = spec.request_type.media_fields()
    lines = []
    for name, value in job.request.items():
        if name in ("prompt", "negative_prompt") or value is None:
            continue
        if name in media:
            if media[name] is MediaRole.AUDIO_URL:
                lines.append(_("audio file: yes"))
            elif isinstance(value, list):
                lines.append(f"{option_label(name)}: {len(value)}")
            continue
        lines.append(f"{option_label(name)}: {_value(value)}")
    return "\n".join(lines) or _("defaults")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return _("on") if value else _("off")
    return str(value)


def cost_text(job: Job) -> str:
    if job.billed_cost is not None:
        return _("{cost} (billed)").format(cost=format_usd(job.billed_cost))
    return _("{cost} (estimated)").format(cost=format_usd(job.estimated_cost))


def status_embed(job: Job, *, eta: float | None, now: float | None = None) -> discord.Embed:
    """The public status message of a job, edited as it moves."""
    now = time.time() if now is None else now
    words = STATE_WORDS[job.state]
    state = f"{words.emoji} {_(words.headline)}"
    if (retrying := retry_words(job)) is not None:
        state = f"{STATE_WORDS[job.state].emoji} {retrying}…"
    if (waiting := queue_words(job)) is not None:
        state = f"{STATE_WORDS[job.state].emoji} {waiting}"
    if job.state is JobState.RUNNING and job.progress:
        state += f" · {job.progress:.0%}"
    colour = (
        "done"
        if job.state is JobState.DELIVERED
        else "failed"
        if job.state in (JobState.FAILED, JobState.TIMED_OUT, JobState.SUBMISSION_UNKNOWN)
        else "stopped"
        if job.state is JobState.CANCELLED
        else "active"
    )
    embed = discord.Embed(
        title=model_title(job), colour=_COLOURS[colour], description=_quoted_prompt(job)
    )
    embed.add_field(name=_("Requested by"), value=f"<@{job.user_id}>")
    embed.add_field(name=_("State"), value=state)
    end = job.finished_at or now
    embed.add_field(name=_("Elapsed"), value=clock(end - job.created_at))
    if eta is not None and not job.state.final:
        embed.add_field(name=_("ETA"), value=_("about {time}").format(time=clock(eta)))
    embed.add_field(name=_("Cost"), value=cost_text(job))
    embed.add_field(name=_("Settings"), value=settings_text(job), inline=False)
    if job.state is JobState.RUNNING and now >= job.deadline_at:
        embed.add_field(
            name=_("Taking longer than usual"),
            value=_("The provider is still working on it; it will be posted here when ready."),
            inline=False,
        )
    embed.set_footer(text=marker(job.id, "status"))
    return embed


def _quoted_prompt(job: Job) -> str:
    """The prompt as a one-line quote: the member's words, escaped, at most an excerpt."""
    prompt = job.request.get("prompt")
    return f"> {excerpt(prompt, PROMPT_EXCERPT)}" if prompt else _("*(no prompt)*")


def result_embed(job: Job, *, linked: bool) -> discord.Embed:
    """Posted with the result: the full settings, seed and what it cost."""
    embed = discord.Embed(
        title=model_title(job), colour=_COLOURS["done"], description=_quoted_prompt(job)
    )
    embed.add_field(name=_("Settings"), value=settings_text(job), inline=False)
    seed = job.request.get("seed")
    embed.add_field(name=_("Seed"), value=str(seed) if seed is not None else _("random"))
    if job.unit == "second":
        embed.add_field(name=_("Duration"), value=_("{seconds} s").format(seconds=job.units))
    else:
        embed.add_field(name=_("Images"), value=str(job.units))
    embed.add_field(name=_("Cost"), value=cost_text(job))
    if linked:
        embed.add_field(
            name=_("Download"),
            value=_(
                "Too large to upload here: use the link button. Provider links expire after "
                "about 24 hours."
            ),
            inline=False,
        )
    embed.set_footer(text=marker(job.id, "result"))
    return embed


def charge_sentence(job: Job, cancelled_from: JobState | None = None) -> str:
    """What the member's budget was charged for a job that ended without a result."""
    estimate = format_usd(job.estimated_cost)
    if job.holds_estimate:
        return _(
            "The estimate ({estimate}) stays counted against your budget, because the "
            "provider may have accepted and billed it. Server staff can release it with "
            "`/wanbot release job:{job}`."
        ).format(estimate=estimate, job=job.id)
    if job.hold_released_at is not None:
        return _("Server staff released the estimate ({estimate}): nothing is counted.").format(
            estimate=estimate
        )
    if job.state is JobState.CANCELLED and job.submitted_at is not None:
        return _(
            "It was already running at the provider, which still bills it: {estimate} "
            "(estimated) was charged."
        ).format(estimate=estimate)
    if job.state is JobState.FAILED and job.error_code == "delivery_failed":
        return _("The generation itself succeeded and was charged ({cost}).").format(
            cost=cost_text(job)
        )
    if job.billed_cost is not None and job.billed_cost > Decimal(0):
        return _("The provider billed {cost}.").format(cost=format_usd(job.billed_cost))
    return _("Nothing was charged.")


# A job that waited for approval and ended without being approved.
_APPROVAL_HEADLINES = {
    "approval_denied": N_("Not approved by the server staff"),
    "approval_expired": N_("No staff decision in time"),
    "approval_unavailable": N_("Approval could not be asked for"),
}


def notice_embed(job: Job) -> discord.Embed:
    """Posted when a job ends without a result: what happened and what was charged."""
    headline = {
        JobState.FAILED: _("The generation failed"),
        JobState.CANCELLED: _("The generation was cancelled"),
        JobState.TIMED_OUT: _("No result in time"),
        JobState.SUBMISSION_UNKNOWN: _("The provider did not confirm the request"),
    }.get(job.state, _("The generation ended"))
    # Stored in English (the database, logs and audit channel speak English); the engine's and
    # providers' sentences are catalog entries (N_), those with a provider's reason in them read
    # back through their templates; the provider's own words stay as it wrote them.
    reason = stored(job.error_message, CONTENT_REFUSED, COULD_NOT_GENERATE, REJECTED)
    if job.state is JobState.CANCELLED:
        if job.error_code in _APPROVAL_HEADLINES:
            headline = _(_APPROVAL_HEADLINES[job.error_code])
        else:
            reason = _("Cancelled on request.")
    embed = discord.Embed(
        title=f"{headline} · {model_title(job)}",
        colour=_COLOURS["failed"],
        description=_quoted_prompt(job),
    )
    if reason:
        embed.add_field(name=_("Why"), value=excerpt(reason, 1000), inline=False)
    embed.add_field(name=_("Cost"), value=charge_sentence(job), inline=False)
    embed.set_footer(text=marker(job.id, "notice"))
    return embed
