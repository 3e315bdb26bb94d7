"""Job states and the only transitions allowed between them.

Why this module exists: "nothing lost, nothing doubled" is a property of the state machine, so
it is written down once, here, and every state change in :mod:`bot.jobs.store` is checked
against it (an ``UPDATE … WHERE state IN (allowed sources)``), so two actors racing on one job
cannot both win.

=====================  ===============================================  ========================
state                  meaning                                           next states
=====================  ===============================================  ========================
awaiting_approval      persisted, budget reserved, inputs on disk;       queued (approved),
                       its estimate is above the server's approval       cancelled (denied,
                       threshold: staff decide (:mod:`bot.jobs.queue`)   expired, or cancelled)
queued                 persisted, budget reserved, inputs on disk; the   created (a slot freed),
                       member's job slots are full: it starts by itself  cancelled (free)
                       when one frees, oldest first
created                persisted, budget reserved, inputs on disk        submitting, cancelled,
                                                                         timed_out (never sent:
                                                                         past its deadline)
submitting             create request about to leave / in flight         running, failed,
                                                                         created (provider said
                                                                         "busy": not accepted),
                                                                         submission_unknown
running                provider accepted; polling (past the deadline      succeeded, failed,
                       too, slowly, until its result would expire)       timed_out, cancelled
succeeded              result URLs known; delivery queued in the outbox  delivering
delivering             result being downloaded and posted                delivered, failed
delivered              posted, message ids recorded                      (final)
failed                 provider or delivery failure; member told         (final)
cancelled              cancelled by the member or staff; member told     (final)
timed_out              never sent before its deadline (released), or     (final)
                       accepted but no answer while its result could
                       still be fetched (~24 h; estimate held)
submission_unknown     create may or may not have reached the provider;  (final; Retry makes a
                       never resent automatically                        new job)
=====================  ===============================================  ========================

Every transition is persisted *before* the side effect it announces: ``submitting`` is written
before the create request leaves (so a crash mid-request is found as ``submitting`` and becomes
``submission_unknown``, never a silent resend), and ``delivering`` is written before a post.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    CREATED = "created"
    SUBMITTING = "submitting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    SUBMISSION_UNKNOWN = "submission_unknown"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES

    @property
    def waiting(self) -> bool:
        """Reserved but not started: queued for a slot, or awaiting a staff decision."""
        return self in WAITING_STATES

    @property
    def generating(self) -> bool:
        """Counts against the per-user concurrent-job limit."""
        return self in GENERATING_STATES


TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.AWAITING_APPROVAL: frozenset({JobState.QUEUED, JobState.CANCELLED}),
    JobState.QUEUED: frozenset({JobState.CREATED, JobState.CANCELLED}),
    JobState.CREATED: frozenset({JobState.SUBMITTING, JobState.CANCELLED, JobState.TIMED_OUT}),
    JobState.SUBMITTING: frozenset(
        {
            JobState.RUNNING,
            JobState.FAILED,
            JobState.CREATED,
            JobState.SUBMISSION_UNKNOWN,
        }
    ),
    JobState.RUNNING: frozenset(
        {
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.TIMED_OUT,
            JobState.CANCELLED,
        }
    ),
    JobState.SUCCEEDED: frozenset({JobState.DELIVERING}),
    JobState.DELIVERING: frozenset({JobState.DELIVERED, JobState.FAILED}),
    JobState.DELIVERED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMED_OUT: frozenset(),
    JobState.SUBMISSION_UNKNOWN: frozenset(),
}

FINAL_STATES = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
GENERATING_STATES = frozenset({JobState.CREATED, JobState.SUBMITTING, JobState.RUNNING})
# Waiting for a slot or a decision: reserved, never sent, cancelled for free.
WAITING_STATES = frozenset({JobState.AWAITING_APPROVAL, JobState.QUEUED})


def sources_of(target: JobState) -> frozenset[JobState]:
    """The states from which ``target`` may be entered."""
    return frozenset(state for state, nexts in TRANSITIONS.items() if target in nexts)
