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
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.pricing import format_usd
from bot.wording import STATE_WORDS, clock, queue_words, retry_words

PROMPT_EXCERPT = 300
_COLOURS = {
    "active": discord.Colour.blurple(),
    "done": discord.Colour.green(),
    "failed": discord.Colour.red(),
    "stopped": discord.Colour.light_grey(),
}


def marker(job_id: int, kind: str) -> str:
    """The footer text that identifies a post (``kind``: status, result, notice)."""
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
                lines.append("audio file: yes")
            elif isinstance(value, list):
                lines.append(f"{name.replace('_', ' ')}: {len(value)}")
            continue
        lines.append(f"{name.replace('_', ' ')}: {_value(value)}")
    return "\n".join(lines) or "defaults"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def cost_text(job: Job) -> str:
    if job.billed_cost is not None:
        return f"{format_usd(job.billed_cost)} (billed)"
    return f"{format_usd(job.estimated_cost)} (estimated)"


def status_embed(job: Job, *, eta: float | None, now: float | None = None) -> discord.Embed:
    """The public status message of a job, edited as it moves."""
    now = time.time() if now is None else now
    state = STATE_WORDS[job.state].with_emoji
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
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>")
    embed.add_field(name="State", value=state)
    end = job.finished_at or now
    embed.add_field(name="Elapsed", value=clock(end - job.created_at))
    if eta is not None and not job.state.final:
        embed.add_field(name="ETA", value=f"about {clock(eta)}")
    embed.add_field(name="Cost", value=cost_text(job))
    embed.add_field(name="Settings", value=settings_text(job), inline=False)
    if job.state is JobState.RUNNING and now >= job.deadline_at:
        embed.add_field(
            name="Taking longer than usual",
            value="The provider is still working on it; it will be posted here when ready.",
            inline=False,
        )
    embed.set_footer(text=marker(job.id, "status"))
    return embed


def _quoted_prompt(job: Job) -> str:
    """The prompt as a one-line quote: the member's words, escaped, at most an excerpt."""
    prompt = job.request.get("prompt")
    return f"> {excerpt(prompt, PROMPT_EXCERPT)}" if prompt else "*(no prompt)*"


def result_embed(job: Job, *, linked: bool) -> discord.Embed:
    """Posted with the result: the full settings, seed and what it cost."""
    embed = discord.Embed(
        title=model_title(job), colour=_COLOURS["done"], description=_quoted_prompt(job)
    )
    embed.add_field(name="Settings", value=settings_text(job), inline=False)
    seed = job.request.get("seed")
    embed.add_field(name="Seed", value=str(seed) if seed is not None else "random")
    if job.unit == "second":
        embed.add_field(name="Duration", value=f"{job.units} s")
    else:
        embed.add_field(name="Images", value=str(job.units))
    embed.add_field(name="Cost", value=cost_text(job))
    if linked:
        embed.add_field(
            name="Download",
            value="Too large to upload here: use the link "
            "button. Provider links expire after about 24 hours.",
            inline=False,
        )
    embed.set_footer(text=marker(job.id, "result"))
    return embed


def charge_sentence(job: Job, cancelled_from: JobState | None = None) -> str:
    """What the member's budget was charged for a job that ended without a result."""
    estimate = format_usd(job.estimated_cost)
    if job.holds_estimate:
        return (
            f"The estimate ({estimate}) stays counted against your budget, because the "
            "provider may have accepted and billed it. Server staff can release it with "
            f"`/wanbot release job:{job.id}`."
        )
    if job.hold_released_at is not None:
        return f"Server staff released the estimate ({estimate}): nothing is counted."
    if job.state is JobState.CANCELLED and job.submitted_at is not None:
        return (
            f"It was already running at the provider, which still bills it: {estimate} "
            "(estimated) was charged."
        )
    if job.state is JobState.FAILED and job.error_code == "delivery_failed":
        return f"The generation itself succeeded and was charged ({cost_text(job)})."
    if job.billed_cost is not None and job.billed_cost > Decimal(0):
        return f"The provider billed {format_usd(job.billed_cost)}."
    return "Nothing was charged."


# A job that waited for approval and ended without being approved.
_APPROVAL_HEADLINES = {
    "approval_denied": "Not approved by the server staff",
    "approval_expired": "No staff decision in time",
    "approval_unavailable": "Approval could not be asked for",
}


def notice_embed(job: Job) -> discord.Embed:
    """Posted when a job ends without a result: what happened and what was charged."""
    headline = {
        JobState.FAILED: "The generation failed",
        JobState.CANCELLED: "The generation was cancelled",
        JobState.TIMED_OUT: "No result in time",
        JobState.SUBMISSION_UNKNOWN: "The provider did not confirm the request",
    }.get(job.state, "The generation ended")
    reason = job.error_message or ""
    if job.state is JobState.CANCELLED:
        headline = _APPROVAL_HEADLINES.get(job.error_code or "", headline)
        if job.error_code not in _APPROVAL_HEADLINES:
            reason = "Cancelled on request."
    embed = discord.Embed(
        title=f"{headline} · {model_title(job)}",
        colour=_COLOURS["failed"],
        description=_quoted_prompt(job),
    )
    if reason:
        embed.add_field(name="Why", value=excerpt(reason, 1000), inline=False)
    embed.add_field(name="Cost", value=charge_sentence(job), inline=False)
    embed.set_footer(text=marker(job.id, "notice"))
    return embed
