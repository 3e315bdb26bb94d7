"""The plain records the job engine, the store and the front ends pass around.

Why this module exists: a job, an outbox item or a usage line is data, the same whichever
backend stored it and whichever front end shows it. Callers outside :mod:`bot.jobs` import these
records, never the SQL module, so the store can be replaced (SQLite, PostgreSQL) without them
noticing.

What it must never do: know how a record is stored (no SQL, no row objects) or hold money as a
float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.jobs.budget import Limits
from bot.jobs.states import JobState
from bot.policy import GuildPolicy


@dataclass(frozen=True, slots=True)
class InputRef:
    """An input file kept on disk for a job until the provider accepts the task."""

    field: str
    position: int
    sha256: str
    mime: str


@dataclass(frozen=True, slots=True)
class NewJob:
    """What the engine knows about a job before it exists."""

    user_id: int
    guild_id: int | None
    channel_id: int | None
    model_id: str
    provider: str
    request: dict[str, Any]
    price_tier: str
    estimated_cost: Decimal
    units: Decimal
    unit: str
    deadline_seconds: float
    inputs: tuple[InputRef, ...] = ()
    parent_job_id: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One generation, as the store last wrote it."""

    id: int
    user_id: int
    guild_id: int | None
    channel_id: int | None
    status_message_id: int | None
    parent_job_id: int | None
    model_id: str
    provider: str
    request: dict[str, Any]
    price_tier: str
    task_id: str | None
    state: JobState
    submit_attempts: int
    poll_count: int
    poll_errors: int
    delivery_attempts: int
    created_at: float
    submitted_at: float | None
    finished_at: float | None
    delivered_at: float | None
    deadline_at: float
    next_attempt_at: float | None
    progress: float | None
    result_urls: tuple[str, ...]
    delivered_message_ids: tuple[int, ...]
    error_code: str | None
    error_message: str | None
    error_detail: str | None
    estimated_cost: Decimal
    billed_cost: Decimal | None
    units: Decimal
    unit: str
    # When staff released the estimate this job held (see ``holds_estimate``).
    hold_released_at: float | None = None
    # The instance (bot process) working on it; ``None``: nobody (see ``JobStore.claim_jobs``).
    lease_owner: str | None = None
    # ``awaiting_approval`` until then; then it lapses (released, member told).
    approval_expires_at: float | None = None
    # The staff member who approved or denied it.
    decided_by: int | None = None
    # ``queued``: how many of the member's queued jobs start before it (as last read).
    queue_ahead: int | None = None

    @property
    def cost(self) -> Decimal:
        """What this job counts as: the billed amount when known, else the estimate."""
        return self.billed_cost if self.billed_cost is not None else self.estimated_cost

    @property
    def holds_estimate(self) -> bool:
        """Its estimate stays reserved because the provider may have billed a task whose
        outcome the bot never learned (``submission_unknown``, or ``timed_out`` after the
        provider accepted it), until staff release it with ``/wanbot release``."""
        unknown = self.state is JobState.SUBMISSION_UNKNOWN or (
            self.state is JobState.TIMED_OUT and self.submitted_at is not None
        )
        return unknown and self.billed_cost is None and self.hold_released_at is None

    @property
    def history_key(self) -> tuple[str, str, str]:
        """Jobs alike in duration: same model, price tier and length (see planning)."""
        return (self.model_id, self.price_tier, str(self.units))


@dataclass(frozen=True, slots=True)
class GuildConfig:
    """Everything a server has set: its limits (``None``: the operator's default applies;
    checked with the reservation, see :mod:`bot.jobs.budget`) and its rules
    (:mod:`bot.policy`)."""

    limits: Limits = field(default_factory=Limits)
    policy: GuildPolicy = field(default_factory=GuildPolicy)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One post the outbox owes: a job's result or its notice."""

    id: int
    job_id: int
    kind: str  # "result" | "notice" | "approval"
    attempts: int
    claimed_at: float | None
    message_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Spend and counts for one group (a user, a model…) over a period."""

    key: str
    jobs: int
    charged_jobs: int
    video_seconds: Decimal
    images: Decimal
    estimated: Decimal
    billed: Decimal

    @property
    def total(self) -> Decimal:
        return self.estimated + self.billed


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One ledger entry with its job's state, for the CSV export."""

    id: int
    created_at: float
    charged_at: float
    job_id: int
    user_id: int
    guild_id: int | None
    model_id: str
    entry: str
    amount: Decimal
    billed: bool
    note: str
    job_state: str


@dataclass(frozen=True, slots=True)
class StoreGauges:
    """What the database holds right now, for the metrics scraped from it: jobs by (state,
    model) and undelivered outbox rows by kind (``result`` or ``notice``)."""

    jobs: dict[tuple[str, str], int]
    outbox_backlog: dict[str, int]
