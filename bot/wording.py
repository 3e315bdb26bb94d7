"""How every front end speaks of a job's state and of time: one table, one clock.

Why this module exists: the status embed, ``/jobs list`` and the terminal's status line all
name a job's state and show elapsed time and ETAs; written three times they drifted apart
("sending" here, "submitting" there; "2:05" here, "02:05" there). They read them from here.

What it must never do: hold text that depends on a front end (mentions, markdown, emoji
placement are the front end's). The words are catalog entries (:mod:`bot.i18n`): a front end
shows ``_(words.headline)``, in the language of whoever reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import N_, _
from bot.jobs.records import Job
from bot.jobs.states import JobState


@dataclass(frozen=True, slots=True)
class StateWords:
    emoji: str
    headline: str  # the status message: "Sending to the provider"
    short: str  # lists and status lines: "sending"

    @property
    def with_emoji(self) -> str:
        return f"{self.emoji} {_(self.headline)}"


STATE_WORDS: dict[JobState, StateWords] = {
    JobState.AWAITING_APPROVAL: StateWords(
        "🛂", N_("Waiting for staff approval"), N_("awaiting approval")
    ),
    JobState.QUEUED: StateWords("🕒", N_("Queued"), N_("queued")),
    JobState.CREATED: StateWords("⏳", N_("Starting"), N_("starting")),
    JobState.SUBMITTING: StateWords("📤", N_("Sending to the provider"), N_("sending")),
    JobState.RUNNING: StateWords("🎨", N_("Generating"), N_("generating")),
    JobState.SUCCEEDED: StateWords("📥", N_("Fetching the result"), N_("fetching result")),
    JobState.DELIVERING: StateWords("📥", N_("Posting the result"), N_("posting result")),
    JobState.DELIVERED: StateWords("✅", N_("Done"), N_("done")),
    JobState.FAILED: StateWords("❌", N_("Failed"), N_("failed")),
    JobState.CANCELLED: StateWords("🛑", N_("Cancelled"), N_("cancelled")),
    JobState.TIMED_OUT: StateWords("⌛", N_("Timed out"), N_("timed out")),
    JobState.SUBMISSION_UNKNOWN: StateWords(
        "❓", N_("Not confirmed by the provider"), N_("not confirmed")
    ),
}


# Why a create was put back to wait (the code the engine gives requeue_submission), as a
# front end says it, sentence case: "Provider unreachable".
RETRY_REASONS: dict[str, str] = {
    "provider_unreachable": N_("Provider unreachable"),
    "provider_unavailable": N_("Provider unavailable"),
    "provider_busy": N_("Provider busy"),
}


def retry_words(job: Job) -> str | None:
    """``Provider unreachable, retrying (attempt 2)`` while a job waits to be sent again after
    the provider certainly did not take it (queued, with a recorded reason); else ``None``.
    The attempt is the one it waits for (attempts so far, plus one)."""
    if job.state is not JobState.CREATED or job.submit_attempts == 0 or not job.error_message:
        return None
    reason = RETRY_REASONS.get(job.error_code or "", N_("Provider not answering"))
    return _("{reason}, retrying (attempt {attempt})").format(
        reason=_(reason), attempt=job.submit_attempts + 1
    )


def queue_words(job: Job) -> str | None:
    """``Queued — 2 ahead of you`` for a queued job whose place is known; else ``None``."""
    if job.state is not JobState.QUEUED or job.queue_ahead is None:
        return None
    if job.queue_ahead == 0:
        return _("Queued — next: it starts when one of your generations finishes")
    return _("Queued — {ahead} ahead of you").format(ahead=job.queue_ahead)


def clock(seconds: float) -> str:
    """Minutes and seconds: ``125`` -> ``2:05`` (negative times show as ``0:00``)."""
    whole = int(max(seconds, 0))
    return f"{whole // 60}:{whole % 60:02d}"
