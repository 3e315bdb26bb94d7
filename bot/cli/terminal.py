"""The terminal as a place results are delivered: files into a folder, a live status line.

Why this module exists: ``python -m bot generate`` drives the same job engine as the Discord
bot, through this :class:`~bot.jobs.delivery.Deliverer`, which keeps the core honest: nothing
in the engine may assume Discord.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from bot.jobs.delivery import DeliveryFailed, DeliveryKind
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.wording import STATE_WORDS, clock, retry_words


class TerminalDeliverer:
    """Moves results into ``out_dir`` and keeps the last state of each job for the CLI."""

    def __init__(self, out_dir: Path, status: TextIO) -> None:
        self.out_dir = out_dir
        self.status = status
        self.eta: Callable[[Job], float | None] = lambda job: None
        self.finished = asyncio.Event()
        self.result_paths: list[Path] = []
        self.ended: Job | None = None
        self.latest: Job | None = None
        self._started = time.monotonic()
        self._width = 0
        self._last_shown: str | None = None

    async def find_delivered(
        self, job: Job, kind: DeliveryKind, *, since: float
    ) -> list[int] | None:
        return None  # a terminal run keeps no state across runs

    async def deliver_result(self, job: Job, files: Sequence[Path]) -> list[int]:
        stem = "".join(ch for ch in job.model_id if ch.isalnum() or ch == "-")
        for index, file in enumerate(files):
            target = self.out_dir / f"{stem}-{(job.task_id or str(job.id))[:8]}-{index + 1}"
            target = target.with_suffix(file.suffix)
            await asyncio.to_thread(shutil.move, file, target)
            self.result_paths.append(target)
        if not files:
            raise DeliveryFailed("the results could not be downloaded", permanent=True)
        self._end(job)
        return list(range(1, len(files) + 1))

    async def deliver_notice(self, job: Job) -> list[int]:
        self._end(job)
        return [0]

    async def deliver_approval(self, job: Job) -> list[int]:
        # Approval is a server's rule; a terminal run has no server and no staff to ask.
        raise DeliveryFailed("there is no one to ask for approval here", permanent=True)

    async def job_changed(self, job: Job) -> None:
        # The end (result or notice) is shown once, by _end; later states add nothing here.
        if self.ended is None and not job.state.final and job.state not in _DELIVERY_STATES:
            if job.state is JobState.RUNNING and (
                self.latest is None or self.latest.state is not JobState.RUNNING
            ):
                self._line(f"task {job.task_id} accepted")
            self.latest = job
            self.show(job)

    async def alert(self, job: Job, text: str) -> None:
        self._line(f"warning: {for_terminal(text)}")

    async def tick_forever(self) -> None:
        """Redraw the line every second on a terminal, so elapsed time and ETA move."""
        while self.status.isatty():
            await asyncio.sleep(1.0)
            self.show()

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _end(self, job: Job) -> None:
        self.ended = job
        shown_state = JobState.SUCCEEDED if job.state in _DELIVERY_STATES else job.state
        self.show(job, state=shown_state)
        if self.status.isatty() and self._width:
            self.status.write("\n")
        self.finished.set()

    def _line(self, text: str) -> None:
        if self.status.isatty() and self._width:
            self.status.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.status.write(text + "\n")

    def show(self, job: Job | None = None, *, state: JobState | None = None) -> None:
        """Print the status line: on a terminal redrawn in place, otherwise once per state."""
        job = job or self.latest
        if job is None:
            return
        state = state or job.state
        retrying = retry_words(job) if state is job.state else None
        # "[provider unreachable, retrying (attempt 2)]" while a create waits to be sent again
        words = retrying[0].lower() + retrying[1:] if retrying else STATE_WORDS[state].short
        parts = [f"[{words}]", f"elapsed {clock(self.elapsed())}"]
        if not state.final and state is not JobState.SUCCEEDED:
            if job.progress:
                parts.append(f"{job.progress:.0%}")
            eta = self.eta(job)
            if eta is not None:
                parts.append(f"ETA ~{clock(eta)}")
        line = " · ".join(parts)
        if self.status.isatty():
            self.status.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif words != self._last_shown:
            self.status.write(line + "\n")
        self._last_shown = words
        self.status.flush()


_DELIVERY_STATES = (JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED)

# The core speaks to a member in a channel: files are attached, results posted, Retry is a
# button. In a terminal a file is a path given again, a result is downloaded, and a retry is the
# same command run again.
_TERMINAL_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\battach (it|the new file|the image|the audio) again\b", r"pass \1 again"),
        (r"\bAttach (it|the new file|the image|the audio) again\b", r"Pass \1 again"),
        (r"\band attach the new file\b", "and pass the new file"),
        (r"\battach (a|an|the) ", r"pass \1 "),
        (r"\bAttach (a|an|the) ", r"Pass \1 "),
        (r"\ban attached image\b", "an image file"),
        (r"\bno result will be posted for it\b", "no result will come for it"),
        (r"\bwill be posted here\b", "will be downloaded"),
        (r"\bcould not be posted here\b", "could not be downloaded"),
        (r"\buse Retry to make a new request\b", "run the command again to make a new request"),
    )
)


def for_terminal(text: str) -> str:
    """A member's message in the terminal's words: nothing is attached or posted there."""
    for pattern, replacement in _TERMINAL_WORDS:
        text = pattern.sub(replacement, text)
    return text
