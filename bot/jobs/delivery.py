"""Where results and notices go: the ``Deliverer`` interface of the outbox.

Why this module exists: the engine must post each result exactly once, whether the destination
is a Discord channel, a terminal or a test's file. Posting and recording the post cannot be one
atomic step, so a deliverer also answers "did I already post this?" (:meth:`find_delivered`):
after a crash between posting and recording, the outbox asks before posting again.

A Discord deliverer answers it by looking for its own message carrying the job's marker in the
channel; a file deliverer by reading its file. A deliverer that cannot answer returns ``None``
and accepts that a crash in that instant may post twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from bot.jobs.records import Job


class DeliveryKind(StrEnum):
    RESULT = "result"  # the generated media (or links to it)
    NOTICE = "notice"  # the job ended without a result: failed, cancelled, timed out, unknown
    APPROVAL = "approval"  # staff are asked to approve or deny a job above the threshold


class DeliveryFailed(Exception):
    """A post failed. ``permanent`` when retrying cannot help (the channel is gone)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Deliverer(Protocol):
    """Posts results and notices, and remembers what it posted."""

    async def find_delivered(
        self, job: Job, kind: DeliveryKind, *, since: float
    ) -> list[int] | None:
        """Message ids of an earlier post of this job's ``kind``, or ``None`` if there is none.
        ``since``: when the earlier attempt started (nothing of it can be older)."""
        ...

    async def deliver_result(self, job: Job, files: Sequence[Path]) -> list[int]:
        """Post the result. ``files`` may be empty when they could not be downloaded: then
        post ``job.result_urls`` as links. Returns the posted message ids."""
        ...

    async def deliver_notice(self, job: Job) -> list[int]:
        """Tell the member the job ended without a result (``job.state`` says how)."""
        ...

    async def deliver_approval(self, job: Job) -> list[int]:
        """Ask the people who decide (the server's staff) to approve or deny ``job``, which
        waits in ``awaiting_approval``; returns the request's message ids."""
        ...

    async def job_changed(self, job: Job) -> None:
        """Best effort, not exactly-once: a job's state or progress changed (status display).
        Must return at once: the engine calls it from its scheduler, which never waits for
        the destination."""
        ...

    async def alert(self, job: Job, text: str) -> None:
        """Best effort: tell the people who run the bot (the server's audit channel) that
        something about ``job`` needs a look, e.g. a billed cost that was not trusted."""
        ...
