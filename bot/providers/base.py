"""The one interface every provider client implements, and what a poll answers.

Why this module exists: the job engine, the terminal front end and the Discord cogs talk to
"a provider", never to MuleRouter or Vtrix by name, so that the provider serving a model is a
setting and a new provider is one new module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from bot.catalog import ModelSpec, WanRequest
from bot.config import ProviderName
from bot.i18n import N_

log = logging.getLogger(__name__)


class TaskState(StrEnum):
    """A provider task as the bot understands it, whatever word the provider used."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


def read_state(raw_status: str, provider: str, words: dict[str, TaskState]) -> TaskState:
    """A status word as a state; an unknown word means "still running" (and is logged)."""
    state = words.get(raw_status.strip().lower())
    if state is None:
        log.warning(
            "%s sent an unknown task status %r; treating it as still running",
            provider,
            raw_status[:64],
        )
        return TaskState.RUNNING
    return state


# Provider task-failure codes that mean "the content was refused", which members should hear
# differently from "the service broke".
_CONTENT_WORDS = ("violation", "inappropriate", "sensitive", "safety", "moderation", "nsfw")

# What a member is told of a failed task (stored in English with the job; a front end shows it
# translated by reading the reason back: bot.i18n.stored).
CONTENT_REFUSED = N_(
    "The provider refused the content ({reason}). Try rewording the prompt or using another image."
)
COULD_NOT_GENERATE = N_("The provider could not generate this ({reason}).")


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """Why a task failed, as the provider said it (``code`` as text: Vtrix sends strings)."""

    code: str
    title: str
    detail: str

    @property
    def is_content_refusal(self) -> bool:
        text = f"{self.title} {self.detail}".lower()
        return any(word in text for word in _CONTENT_WORDS)

    def user_message(self) -> str:
        reason = self.detail or self.title or "no reason given"
        if self.is_content_refusal:
            return CONTENT_REFUSED.format(reason=reason)
        return COULD_NOT_GENERATE.format(reason=reason)


@dataclass(frozen=True, slots=True)
class PollResult:
    """One look at a task. ``result_urls`` and ``billed_cost`` are set once it succeeded.

    The parsers keep these invariants whatever the provider sent (tests/providers/
    test_parsers_properties.py): ``result_urls`` are http(s) links taken whole from a list in the
    answer, and there is at least one exactly when ``state`` is SUCCEEDED; ``billed_cost`` is
    a finite, non-negative Decimal or ``None``; every text is short and printable.
    """

    state: TaskState
    raw_status: str
    progress: float | None = None
    result_urls: tuple[str, ...] = field(default_factory=tuple)
    billed_cost: Decimal | None = None
    # The provider sent a cost that is not a usable amount (shown clipped, for the operator).
    unreadable_cost: str | None = None
    failure: TaskFailure | None = None
    # When the provider started working on the task (epoch seconds), where it says: MuleRouter's
    # ``updated_at`` once a task moved from pending to processing. Separates queue wait from run
    # time for the poll planner; ``None`` while queued or when the provider does not say.
    started_at: float | None = None
    # Why the answer could not be read safely (with a clipped excerpt of it), when it could not:
    # the task is then reported as not finished, never as a success with wrong links.
    unreadable: str | None = None


class GenerationProvider(Protocol):
    """Create a task, then look at it until it finishes."""

    name: ProviderName

    async def submit(self, spec: ModelSpec, request: WanRequest) -> str:
        """Create the task; return its id.

        Raises a definite :class:`~bot.providers.errors.ProviderError` when the provider
        refused (nothing billed), or
        :class:`~bot.providers.errors.SubmissionOutcomeUnknown` when it may have accepted.
        """
        ...

    async def poll(self, spec: ModelSpec, task_id: str) -> PollResult:
        """Look at the task once (transient errors already retried a few times)."""
        ...
