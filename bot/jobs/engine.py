"""The durable job engine: submit, follow, settle, and hand results to the outbox.

Why this module exists: a generation takes minutes and costs money, and the bot will be
restarted, crash and lose its network while jobs are in flight. The engine owns a job from the
moment a member's request is accepted until its result or notice is queued for delivery, and
keeps every step in the database first (:mod:`bot.jobs.states` has the state table):

* :meth:`JobEngine.submit` checks and reserves the budget, stores inputs on disk and the job in
  SQLite, in that order, and returns at once; the create request is sent in the background.
* One scheduler (:mod:`bot.jobs.scheduler`) wakes for the next due submission or poll, with a
  per-provider request rate and a cap on concurrent requests, and adaptive poll intervals
  (:mod:`bot.jobs.planning`).
* :meth:`JobEngine.start` resumes everything that was in flight: jobs caught mid-create become
  ``submission_unknown`` (never resent: a resend can bill twice), running jobs are polled again
  at once, undelivered results are delivered.
* :meth:`JobEngine.on_task_event` takes what a provider pushed (a verified webhook) down the
  path a poll's answer takes; while a provider's webhooks arrive (:mod:`bot.jobs.pushed`) its
  tasks are polled only as a safety net.

What it must never do: import discord.py, or send a create request for a job that is not in
``submitting`` in the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp

from bot.catalog import ModelSpec, RequestInvalid, WanRequest, spec_for
from bot.config import ConfigError, ProviderName
from bot.i18n import N_, _
from bot.jobs.budget import Limits, ReservationRefused, check_limits, precheck_limits
from bot.jobs.delivery import Deliverer
from bot.jobs.engine_config import EngineConfig
from bot.jobs.history import DurationHistory, HistoryKey
from bot.jobs.inputs import InputFiles, InputStash
from bot.jobs.leases import Membership
from bot.jobs.money import to_micros
from bot.jobs.outbox import Outbox
from bot.jobs.planning import DurationEstimate, PollPlanner
from bot.jobs.pushed import PushedEvents
from bot.jobs.queue import WaitingRoom
from bot.jobs.ratelimit import TokenBucket
from bot.jobs.records import InputRef, Job, NewJob
from bot.jobs.scheduler import Action, Scheduler
from bot.jobs.states import JobState
from bot.jobs.storage import JobStore, PollUpdate
from bot.log_context import log_context
from bot.pricing import PriceTable
from bot.providers import PollResult, Providers, TaskState
from bot.providers.errors import (
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    SubmissionOutcomeUnknown,
    TaskNotFound,
)
from bot.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger(__name__)

T = TypeVar("T")

_FINISHED = frozenset({TaskState.SUCCEEDED, TaskState.FAILED})


# Stored with the job in English and translated where a front end shows it (N_: bot.i18n).
RESTARTED_MID_CREATE = N_(
    "The bot restarted while sending this request, so it cannot tell whether the provider "
    "accepted it: there is no task to follow and no result will be posted for it. It was not "
    "resent automatically, to avoid paying twice; use Retry to make a new request."
)
NOT_SENT_BEFORE_DEADLINE = N_(
    "The bot could not send this request before its deadline (it was offline or the provider "
    "was busy), so it was not sent at all. Use Retry to try again."
)
GAVE_UP_WAITING = N_(
    "The provider accepted this task but had no result while its result could still be "
    "fetched (about a day), so the bot stopped waiting for it."
)


# Channels between the processes sharing a database (bot.jobs.leases; SQLite: this process).
# "<provider>:<task id>": a pushed event about that task reached another process; its owner
# looks at the task at once.
TASK_NEWS = "wanbot_task_news"
# "<job id>": the job was cancelled (by a member whose interaction reached another process);
# its owner stops following it.
JOB_CANCELLED = "wanbot_job_cancelled"


class EngineStopping(Exception):
    """The engine is shutting down and takes no new jobs."""


@dataclass(slots=True)
class _Running:
    """What the scheduler needs to poll a running job without reading the database."""

    job_id: int
    spec: ModelSpec
    task_id: str
    submitted_at: float
    deadline_at: float
    history_key: HistoryKey
    estimated_cost: Decimal
    # Followed until then (the result links would have expired), past any deadline.
    follow_until: float
    polls: int = 0
    errors: int = 0
    not_found: int = 0
    progress: float | None = None
    # The last moment the task was seen unfinished (None: unknown, e.g. after a restart).
    last_unfinished_at: float | None = None
    # The run-time origin (bot.jobs.durations): when the provider said it started the task,
    # else the last look that saw it pending; None: the submission.
    started_at: float | None = None
    start_reported: bool = False
    # Whether the member was told it is taking longer than usual (past the deadline).
    overdue: bool = False
    # An answer saying it finished is being settled (a poll's and a pushed event's may meet).
    settling: bool = False
    # Another process received a pushed event about this task (TASK_NEWS): the look it
    # prompted counts as pushed, not as a completion polling found on its own.
    news: bool = False

    def note_start(self, result: PollResult, now: float) -> None:
        """Move the run-time origin on from a look at the unfinished task: still pending means
        not started yet (origin now); then the first start time the provider says wins (kept
        after the last pending look and before now, against clock skew)."""
        if result.state is TaskState.PENDING:
            self.started_at = now
        elif result.started_at is not None and not self.start_reported:
            earliest = self.started_at or self.submitted_at
            self.started_at = min(max(result.started_at, earliest), now)
            self.start_reported = True

    def plan(self, planner: PollPlanner, estimate: DurationEstimate, now: float) -> float:
        """The planner's next delay for this task seen unfinished at ``now`` (also what
        ``bench/polling.py`` replays)."""
        return planner.next_delay(
            estimate,
            now - self.submitted_at,
            self.polls,
            run_elapsed=now - (self.started_at or self.submitted_at),
        )


class _Following:
    """The running jobs an engine follows, by job id and by (provider, task id): a pushed
    event names the task, the scheduler the job."""

    def __init__(self) -> None:
        self._jobs: dict[int, _Running] = {}
        self._tasks: dict[tuple[ProviderName, str], int] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[int]:
        return iter(self._jobs)

    def __setitem__(self, job_id: int, running: _Running) -> None:
        self.pop(job_id)
        self._jobs[job_id] = running
        self._tasks[(running.spec.provider, running.task_id)] = job_id

    def get(self, job_id: int) -> _Running | None:
        return self._jobs.get(job_id)

    def pop(self, job_id: int, default: None = None) -> _Running | None:
        running = self._jobs.pop(job_id, default)
        if running is not None:
            self._tasks.pop((running.spec.provider, running.task_id), None)
        return running

    def by_task(self, provider: ProviderName, task_id: str) -> _Running | None:
        job_id = self._tasks.get((provider, task_id))
        return None if job_id is None else self._jobs.get(job_id)


def _retry_code(exc: RateLimited | ProviderUnavailable) -> str:
    """Why a create waits to be sent again, for the front ends (:data:`bot.wording.RETRY_REASONS`):
    no connection at all (a wrong base URL, the network down), a 503, or a 429."""
    if isinstance(exc, RateLimited):
        return "provider_busy"
    return "provider_unreachable" if exc.status is None else "provider_unavailable"


class JobEngine:
    """Runs jobs to a result or a notice. One per process; :meth:`start` before use."""

    def __init__(
        self,
        store: JobStore,
        providers: Providers,
        prices: PriceTable,
        deliverer: Deliverer,
        session: aiohttp.ClientSession,
        config: EngineConfig,
        *,
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.store = store
        self.providers = providers
        self.telemetry = telemetry
        self.prices = prices
        self.deliverer = deliverer
        self.config = config
        self.clock = clock
        self.inputs = InputStash(InputFiles(config.media_dir / "inputs"), store)
        self.history = DurationHistory(
            store,
            config.expected_seconds,
            refresh_seconds=config.history_refresh_seconds,
            target_delay=config.poll_target_delay,
            clock=clock,
        )
        self.planner = PollPlanner(
            target_delay=config.poll_target_delay,
            min_interval=config.poll_min_interval,
            max_interval=config.poll_max_interval,
            first_look=config.poll_first_look,
        )
        self.scheduler = Scheduler(self._run_action, config.max_concurrent_requests, clock=clock)
        self.membership = Membership(
            store,
            config.lease_seconds,
            on_claimed=self._take_over,
            on_lost=self._forget_all,
            on_share=self._share_with,
            shards=config.shards,
            clock=clock,
        )
        self.outbox = Outbox(
            store,
            deliverer,
            session,
            config,
            clock=clock,
            telemetry=telemetry,
            owner=lambda: self.membership.instance_id,
        )
        self.waiting = WaitingRoom(
            store,
            config.default_limits,
            owner=lambda: self.membership.instance_id,
            on_started=self._queued_started,
            on_lapsed=self._approval_lapsed,
            clock=clock,
        )
        self._buckets: dict[ProviderName, TokenBucket] = {}
        # This process's part of the deployment's request rates (1 / live processes).
        self.rate_share = 1.0
        self.share_listeners: list[Callable[[float], None]] = []
        self._running = _Following()
        self.pushed = PushedEvents(config.webhook_providers, miss_limit=config.webhook_miss_limit)
        self._poll_updates: list[PollUpdate] = []
        self._flusher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._accepting = False

    def __repr__(self) -> str:
        return f"JobEngine(running={len(self._running)}, accepting={self._accepting})"

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the deployment (claiming the jobs nobody live owns: with SQLite, every job the
        last run left in flight), resume them, then start the scheduler, the outbox and the
        lease heartbeat."""
        now = self.clock()
        await self.store.listen(TASK_NEWS, self._heard_task_news)
        await self.store.listen(JOB_CANCELLED, self._heard_job_cancelled)
        resumed = await self._resume(await self.membership.join(), now)
        await self.store.reset_outbox_claims(now)
        for job_id in await self.store.jobs_holding_inputs():
            await self.inputs.drop(job_id)
        self._accepting = True
        self.scheduler.start()
        self.outbox.start()
        self.membership.start()
        self.waiting.start()
        self._flusher = asyncio.create_task(self._flush_polls_forever(), name="poll-flusher")
        log.info(
            "job engine started: resumed %d to submit, %d running, %d marked unknown",
            resumed[JobState.CREATED],
            resumed[JobState.RUNNING],
            resumed[JobState.SUBMITTING],
        )

    async def _resume(self, jobs: list[Job], now: float) -> dict[JobState, int]:
        """Take up jobs this process just claimed (at start-up, or from a process whose lease
        ran out): queue the unsent, report the caught mid-create, follow the running.

        Running jobs resume at their saved next look; those overdue (their process was down)
        are spread out at the provider's request rate, oldest first, rather than all polled at
        once, so new members' creates are not stuck behind thousands of re-polls.
        """
        resumed = {state: 0 for state in JobState}
        overdue: dict[str, list[Job]] = {}
        for job in jobs:
            resumed[job.state] += 1
            if job.state is JobState.CREATED:
                self.scheduler.push(
                    max(now, job.next_attempt_at or now), job.id, Action.SUBMIT, job.provider
                )
            elif job.state is JobState.SUBMITTING:
                # The create request may have left before the stop: never resend it.
                await self.store.mark_submission_unknown(
                    job.id,
                    RESTARTED_MID_CREATE,
                    now,
                    detail="process stopped in state submitting",
                )
            elif job.state is JobState.RUNNING:
                self._track(job)
                if job.next_attempt_at is not None and job.next_attempt_at > now:
                    self.scheduler.push(job.next_attempt_at, job.id, Action.POLL, job.provider)
                else:
                    overdue.setdefault(job.provider, []).append(job)
        rate = self.config.requests_per_second * self.rate_share
        for provider, waiting in overdue.items():
            waiting.sort(key=lambda job: job.next_attempt_at or 0.0)
            for index, job in enumerate(waiting):
                self.scheduler.push(now + index / rate, job.id, Action.POLL, provider)
        return resumed

    async def _take_over(self, jobs: list[Job]) -> None:
        """Jobs claimed from a process whose lease ran out (or that stopped cleanly)."""
        resumed = await self._resume(jobs, self.clock())
        self.outbox.wake()  # their results and notices may be waiting too
        if not jobs:
            return
        log.info(
            "took over %d to submit, %d running, %d marked unknown",
            resumed[JobState.CREATED],
            resumed[JobState.RUNNING],
            resumed[JobState.SUBMITTING],
        )

    async def _forget_all(self) -> None:
        """This process's lease ran out: other processes may own its jobs now. Stop following
        them (queued creates are safe: a create is sent only by the process that moves the job
        to ``submitting``, a compare-and-set)."""
        for job_id in list(self._running):
            self._running.pop(job_id)
        await self._flush_polls()

    def _share_with(self, live: int) -> None:
        """``live`` processes share the database: take a ``1/live`` share of every rate."""
        self.rate_share = 1.0 / max(live, 1)
        for bucket in self._buckets.values():
            bucket.set_rate(self.config.requests_per_second * self.rate_share)
        for listener in self.share_listeners:
            listener(self.rate_share)

    async def stop(self, grace: float = 8.0) -> None:
        """Stop taking jobs, let in-flight requests finish for up to ``grace`` seconds, persist.

        Whatever is cut off is safe: a create still in flight is found as ``submitting`` at
        the next start (and reported, not resent); polls and deliveries simply run again.
        """
        self._accepting = False
        await self.waiting.stop()
        await self.scheduler.stop(grace * 0.7)
        await self.outbox.stop(grace * 0.2)
        if self._background:
            await asyncio.wait(self._background, timeout=1.0)
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self._flush_polls()
        await self.membership.leave()  # others (or the next start) take its jobs at once

    # --- front-end API --------------------------------------------------------------------------

    async def submit(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        spec: ModelSpec,
        request: WanRequest,
        limits: Limits | None = None,
        parent_job_id: int | None = None,
        media: Mapping[str, bytes] | None = None,
        approval_hours: float | None = None,
    ) -> Job:
        """Reserve the budget and persist the job; the create request follows in the background.

        ``media`` may give the bytes behind ``data:`` URIs of ``request``, keyed by the URI
        (as :func:`bot.orders.build_request` returns them): those are stored as they are.
        The job may wait instead of starting: ``queued`` when the member's slots are full and
        their queue has room (it starts in turn, :mod:`bot.jobs.queue`), or
        ``awaiting_approval`` for up to ``approval_hours`` when given (staff are asked through
        the outbox). ``job.state`` says which.

        Raises :class:`~bot.jobs.store.ReservationRefused` when a budget or limit says no
        (nothing stored, nothing sent) and :class:`EngineStopping` during shutdown.
        """
        if not self._accepting:
            # Raised in the member's own command: worded in their language (bot.i18n).
            raise EngineStopping(_("the bot is restarting; try again in a minute"))
        try:
            approval_until = (
                None if approval_hours is None else self.clock() + approval_hours * 3600
            )
            job = await self._create(
                user_id,
                guild_id,
                channel_id,
                spec,
                request,
                limits,
                parent_job_id,
                media or {},
                approval_until,
            )
        except ReservationRefused as refused:
            self.telemetry.job_refused(refused.reason)
            raise
        self.telemetry.job_submitted(spec.model_id)
        if job.state is JobState.CREATED:
            self.scheduler.push(self.clock(), job.id, Action.SUBMIT, spec.provider.value)
        elif job.state is JobState.AWAITING_APPROVAL:
            self.outbox.wake()  # the request to staff
            self.waiting.wake()  # its expiry may be the next
        return job

    async def _create(
        self,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        spec: ModelSpec,
        request: WanRequest,
        limits: Limits | None,
        parent_job_id: int | None,
        media: Mapping[str, bytes],
        approval_until: float | None,
    ) -> Job:
        """Store the inputs and the job (see :meth:`InputStash.store_job`)."""

        async def create(stored: dict[str, Any], refs: tuple[InputRef, ...]) -> Job:
            new = NewJob(
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
                model_id=spec.model_id,
                provider=spec.provider.value,
                request=stored,
                price_tier=request.price_tier(),
                estimated_cost=self.prices.estimate(spec.model_id, request),
                units=request.billable_units(),
                unit=spec.price_unit.value,
                deadline_seconds=self.config.deadline_for(spec),
                inputs=refs,
                parent_job_id=parent_job_id,
            )
            return await self.store.create_job(
                new,
                limits or self.config.default_limits,
                self.clock(),
                owner=self.membership.instance_id,
                approval_until=approval_until,
            )

        return await self.inputs.store_job(request, create, media)

    async def cancel(self, job_id: int, by_user_id: int) -> JobState | None:
        """Cancel; returns the state cancelled from (``running`` means it is still billed;
        ``queued``, ``awaiting_approval`` and ``created`` that nothing was)."""
        cancelled_from = await self.store.cancel(job_id, self.clock(), by_user_id)
        if cancelled_from is not None:
            if (
                self._running.pop(job_id, None) is None
                and cancelled_from.generating
                and self.membership.live > 1
            ):
                await self._tell_others(JOB_CANCELLED, str(job_id))
            await self._ended_waiting(job_id, cancelled_from)
        return cancelled_from

    async def approve(self, job_id: int, by_user_id: int) -> Job | None:
        """Staff approved a job awaiting approval: it joins its member's queue and starts in
        turn (at once when a slot is free). ``None``: no longer awaiting a decision."""
        job = await self.store.approve(job_id, by_user_id, self.clock())
        if job is not None:
            self.waiting.wake()
            await self._notify(job_id)
        return job

    async def deny(self, job_id: int, by_user_id: int) -> bool:
        """Staff denied a job awaiting approval: released, the member told. ``False``: it was
        no longer awaiting a decision."""
        cancelled_from = await self.store.cancel(
            job_id,
            self.clock(),
            by_user_id,
            only_from=JobState.AWAITING_APPROVAL,
            code="approval_denied",
            message=N_("Server staff did not approve this request."),
            decided_by=by_user_id,
        )
        if cancelled_from is None:
            return False
        await self._ended_waiting(job_id, cancelled_from)
        return True

    async def _approval_lapsed(self, job_id: int) -> None:
        """No decision in time: released, the member told (the waiting room calls this)."""
        cancelled_from = await self.store.cancel(
            job_id,
            self.clock(),
            0,
            only_from=JobState.AWAITING_APPROVAL,
            code="approval_expired",
            message=N_("No staff member approved this request in time, so it was not started."),
        )
        if cancelled_from is not None:
            log.info("job %d: approval lapsed; released", job_id)
            await self._ended_waiting(job_id, cancelled_from)

    async def _ended_waiting(self, job_id: int, ended_from: JobState) -> None:
        """After a cancel, a denial or a lapse: drop its inputs, post the notice, update the
        status; a freed slot or a shorter queue moves the member's queue on."""
        await self.inputs.drop(job_id)
        self.outbox.wake()
        await self._notify(job_id)
        if ended_from is JobState.QUEUED:
            job = await self.store.get_job(job_id)
            if job is not None:
                await self._show_queue(job.user_id, job.guild_id)

    async def _queued_started(self, jobs: list[Job]) -> None:
        """The waiting room moved these from ``queued`` to ``created``: send them, and show
        the member's remaining queued jobs their new places."""
        for job in jobs:  # scheduled first: nothing below can keep a started job from its send
            log.info("job %d: its turn came; starting", job.id)
            self.scheduler.push(self.clock(), job.id, Action.SUBMIT, job.provider)
        for job in jobs:
            await self._notify(job.id)
        for user_id, guild_id in {(job.user_id, job.guild_id) for job in jobs}:
            await self._show_queue(user_id, guild_id)

    async def _show_queue(self, user_id: int, guild_id: int | None) -> None:
        for queued in await self.store.queued_jobs(user_id, guild_id):
            try:
                await self.deliverer.job_changed(queued)
            except Exception:
                log.exception("job %d: status update failed (ignored)", queued.id)

    def eta(self, job: Job) -> float | None:
        """Seconds until the result is likely ready, or ``None`` when not being made."""
        return self.history.eta(job)

    async def precheck(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        limits: Limits | None = None,
        estimate: Decimal | None = None,
    ) -> None:
        """Refuse early, before a member's attachments are downloaded: generation off,
        concurrent jobs, cooldown, and the budgets (against ``estimate`` when the order's
        price is known from its options, else only a budget with nothing left), worded as
        :meth:`submit` would refuse them. Only a read: :meth:`submit` still checks and
        reserves atomically. Raises :class:`~bot.jobs.budget.ReservationRefused`."""
        defaults = limits or self.config.default_limits
        effective = await self.store.limits_for(guild_id, user_id, defaults)
        now = self.clock()
        try:
            totals = await self.store.member_totals(guild_id, user_id, now)
            precheck_limits(effective, totals, now)
            if estimate is not None:
                check_limits(effective, totals, to_micros(estimate), now)
        except ReservationRefused as refused:
            self.telemetry.job_refused(refused.reason)
            raise

    # --- pushed events (webhooks) ---------------------------------------------------------------

    @property
    def accepting(self) -> bool:
        """Started and not stopping: pushed events can be taken now."""
        return self._accepting

    def task_spec(self, provider: ProviderName, task_id: str) -> ModelSpec | None:
        """The model of a task this engine follows (to read an event about it), else ``None``."""
        running = self._running.by_task(provider, task_id)
        return None if running is None else running.spec

    def on_task_event(
        self,
        provider: ProviderName,
        task_id: str,
        result: PollResult | None,
        *,
        at: float | None = None,
    ) -> bool:
        """A verified event the provider pushed about one of its tasks; whether it is followed.

        A finished ``result`` is taken down the path a poll's answer takes (:meth:`_on_answer`)
        in the background: the caller (a webhook request) never waits for it. ``at`` is when
        the provider says it happened (epoch seconds). ``None`` or an unfinished result (the
        task was created, or an event with nothing to act on) changes nothing, but shows the
        provider's webhooks arrive. A task not followed here (unknown, already settled by a
        poll or an earlier event, cancelled) changes nothing: polling covers every job.
        """
        self.pushed.heard(provider)
        running = self._running.by_task(provider, task_id)
        if running is None:
            return False
        if result is None or result.state not in _FINISHED or running.settling:
            return True
        self.pushed.pushed_completion(provider)
        now = self.clock()
        # Pushed as it happened: the task was unfinished until then (an exact completion).
        happened = now if at is None else min(max(at, running.submitted_at), now)
        last = running.last_unfinished_at
        running.last_unfinished_at = happened if last is None else max(last, happened)
        task = asyncio.get_running_loop().create_task(self._on_pushed(running, result, now))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return True

    def forward_task_event(self, provider: ProviderName, task_id: str) -> bool:
        """A verified event about a task this process does not follow: when other processes
        share the database, tell them (its owner looks at it at once); whether it was sent."""
        if self.membership.live <= 1:
            return False
        task = asyncio.get_running_loop().create_task(
            self._tell_others(TASK_NEWS, f"{provider.value}:{task_id}")
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return True

    async def _tell_others(self, channel: str, payload: str) -> None:
        try:
            await self.store.notify(channel, payload)
        except Exception as exc:  # polling still covers every job
            log.warning("could not tell the other bot processes (%s): %s", channel, exc)

    def _heard_task_news(self, payload: str) -> None:
        name, _, task_id = payload.partition(":")
        try:
            provider = ProviderName(name)
        except ValueError:
            return
        running = self._running.by_task(provider, task_id)
        if running is None or running.settling or not self._accepting:
            return
        running.news = True
        self.pushed.heard(provider)
        self.scheduler.push(self.clock(), running.job_id, Action.POLL, provider.value)

    def _heard_job_cancelled(self, payload: str) -> None:
        if payload.isdigit():
            self._running.pop(int(payload))

    async def _on_pushed(self, running: _Running, result: PollResult, now: float) -> None:
        try:
            await self._on_answer(running, result, now)
        except Exception:
            log.exception(
                "job %d: a pushed event could not be applied; its next look will find it",
                running.job_id,
            )

    # --- scheduled work -------------------------------------------------------------------------

    async def _run_action(self, job_id: int, action: Action) -> None:
        running = self._running.get(job_id)
        with log_context(job_id=job_id, model=running.spec.model_id if running else None):
            try:
                if action is Action.SUBMIT:
                    await self._submit(job_id)
                else:
                    await self._poll(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "job %d: %s failed unexpectedly; will look again", job_id, action.value
                )
                self.scheduler.push(self.clock() + 60.0, job_id, action, self._lane_of(job_id))

    def _lane_of(self, job_id: int) -> str:
        """The scheduler lane to retry a job's action in: its provider's, when known."""
        running = self._running.get(job_id)
        return running.spec.provider.value if running is not None else "retry"

    def _bucket(self, provider: ProviderName) -> TokenBucket:
        bucket = self._buckets.get(provider)
        if bucket is None:
            rate = self.config.requests_per_second * self.rate_share
            bucket = self._buckets[provider] = TokenBucket(rate)
        return bucket

    async def _submit(self, job_id: int) -> None:
        # Taken first, so that whatever happens below the request is not held past this attempt.
        kept = self.inputs.take_inline(job_id)
        if not self._accepting:
            return
        job = await self.store.get_job(job_id)
        if job is None or job.state is not JobState.CREATED:
            return
        if self.clock() >= job.deadline_at:
            # Sending now would bill for a result the member stopped waiting for long ago.
            if await self.store.mark_timed_out(job_id, self.clock(), NOT_SENT_BEFORE_DEADLINE):
                log.warning("job %d: not sent before its deadline; released", job_id)
                await self.inputs.drop(job_id)
                self.outbox.wake()
                await self._notify(job_id)
            return
        spec = spec_for(job.model_id, ProviderName(job.provider))
        try:
            if kept is not None and job.submit_attempts == 0:
                request = kept  # what was just stored, as it was checked
            else:
                mimes = {ref.sha256: ref.mime for ref in await self.store.inputs_of(job.id)}
                request = await asyncio.to_thread(self.inputs.rehydrate, job, spec, mimes)
            del kept
            provider = self.providers.for_spec(spec)
        except (ConfigError, OSError, KeyError, RequestInvalid) as exc:
            log.error("job %d cannot be submitted: %s", job_id, exc)
            await self.store.claim_submission(job_id, self.clock())
            await self._fail(
                job_id,
                "not_submitted",
                N_(
                    "The bot could not send this request (a configuration problem; "
                    "the server staff has been told in the logs). Nothing was charged."
                ),
                str(exc),
            )
            return
        await self._bucket(spec.provider).acquire(priority=True)
        if not self._accepting or not await self.store.claim_submission(job_id, self.clock()):
            return
        try:
            task_id = await provider.submit(spec, request)
        except SubmissionOutcomeUnknown as exc:
            log.warning("job %d: %s", job_id, exc)
            await self.store.mark_submission_unknown(
                job_id, exc.user_message, self.clock(), detail=str(exc)
            )
            await self.inputs.drop(job_id)
            self.outbox.wake()
            await self._notify(job_id)
            return
        except (RateLimited, ProviderUnavailable) as exc:
            # Definite "not accepted" (see bot.providers.http): safe to try again later.
            if job.submit_attempts + 1 < self.config.max_submit_attempts:
                delay = self.config.submit_retry_seconds * 2**job.submit_attempts
                if isinstance(exc, RateLimited) and exc.retry_after:
                    delay = max(delay, exc.retry_after)
                log.warning("job %d: %s; submitting again in %.0fs", job_id, exc, delay)
                await self.store.requeue_submission(
                    job_id, self.clock() + delay, str(exc), code=_retry_code(exc)
                )
                self.scheduler.push(
                    self.clock() + delay, job_id, Action.SUBMIT, spec.provider.value
                )
                await self._notify(job_id)  # "retrying (attempt N)" on the status, at once
                return
            await self._fail(job_id, type(exc).__name__, exc.user_message, str(exc))
            return
        except ProviderError as exc:
            log.warning("job %d refused: %s", job_id, exc)
            await self._fail(job_id, type(exc).__name__, exc.user_message, str(exc))
            return
        await self._accepted(job, spec, task_id)

    async def _accepted(self, job: Job, spec: ModelSpec, task_id: str) -> None:
        """Record an accepted create. Until the write lands the task id exists only in this
        process, so it is logged first (the operator's record if the process dies now) and the
        write is retried in memory until it succeeds; it is never dropped."""
        log.warning(
            "job %d: accepted by %s as task %s (recording it now)", job.id, spec.provider, task_id
        )
        now = self.clock()
        history_key = job.history_key
        estimate = await self.history.estimate(history_key)
        first = (
            # Webhooks arriving: a fast failure is pushed too, so no early look is needed.
            self.planner.safety_net_delay(estimate, 0.0, 0)
            if self.pushed.relied_on(spec.provider)
            else self.planner.next_delay(estimate, 0.0, 0, run_elapsed=0.0)
        )
        try:
            unneeded = await self._persist(
                f"job {job.id}: recording task {task_id}",
                lambda: self.store.mark_running(job.id, task_id, now, now + first),
            )
        except asyncio.CancelledError:
            log.error(
                "job %d: stopped before task %s could be recorded; it will be reported as "
                "not confirmed at the next start (the task id is in this log)",
                job.id,
                task_id,
            )
            raise
        if unneeded is None:
            log.error(
                "job %d: task %s was accepted but the job had already left 'submitting' "
                "(another process moved it); not following it here",
                job.id,
                task_id,
            )
            return
        await self.inputs.forget(unneeded)
        self._running[job.id] = _Running(
            job.id,
            spec,
            task_id,
            now,
            job.deadline_at,
            history_key,
            job.estimated_cost,
            now + self.config.result_ttl_seconds,
            last_unfinished_at=now,
        )
        self.scheduler.push(now + first, job.id, Action.POLL, spec.provider.value)
        await self._notify(job.id)

    async def _persist(self, what: str, write: Callable[[], Awaitable[T]]) -> T:
        """Retry a store write that must not be lost, backing off in memory (a full disk or a
        locked database heals; a tight loop would only fill the log)."""
        delay = 0.5
        while True:
            try:
                return await write()
            except Exception as exc:
                log.warning("%s failed (%s); trying again in %.0fs", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.store_retry_max_seconds)

    async def _poll(self, job_id: int) -> None:
        running = self._running.get(job_id)
        if running is None:
            return
        provider = self.providers.for_spec(running.spec)
        await self._bucket(running.spec.provider).acquire()
        now = self.clock()  # after waiting for the rate limit: this is when we look
        try:
            result = await provider.poll(running.spec, running.task_id)
        except ProviderError as exc:
            if now >= running.follow_until:
                await self._give_up(running, now)
            else:
                self._after_poll_error(running, exc)
            return
        running.errors = 0
        running.not_found = 0
        running.polls += 1
        followed = self._running.get(job_id) is running and not running.settling
        if result.state in _FINISHED and followed:
            if running.news:  # an event reached another process first
                self.pushed.pushed_completion(running.spec.provider)
            else:
                self.pushed.polled_completion(running.spec.provider)  # no event came first
        await self._on_answer(running, result, now)

    async def _on_answer(self, running: _Running, result: PollResult, now: float) -> None:
        """What a provider said about a running task (a poll's answer, or a pushed event):
        settle it, fail it, give up on it, or plan the next look.

        A job is settled once: an answer about a job no longer followed here (settled by
        another answer, cancelled, given up) or already being settled changes nothing, so a
        late "failed" can never undo a "succeeded" that came first.
        """
        job_id = running.job_id
        if self._running.get(job_id) is not running or running.settling:
            return
        if result.state in _FINISHED:
            running.settling = True
            try:
                await self._settle(running, result)
            finally:
                running.settling = False
        elif now >= running.follow_until:
            await self._give_up(running, now)
        else:
            changed = result.progress is not None and result.progress != running.progress
            running.progress = result.progress
            running.last_unfinished_at = now
            running.note_start(result, now)
            delay = await self._next_look(running, now)
            if now >= running.deadline_at:
                # Past the deadline the task is still paid for: follow it, slowly.
                delay = max(delay, self.config.overdue_poll_seconds)
                if not running.overdue:
                    running.overdue = changed = True
                    log.info("job %d is past its deadline; still following it", job_id)
            delay = min(delay, running.follow_until - now)  # the last look is at the end
            self._poll_updates.append((job_id, now + delay, result.progress, False))
            self.scheduler.push(now + delay, job_id, Action.POLL, running.spec.provider.value)
            if changed or running.polls == 1:
                await self._notify(job_id)

    async def _settle(self, running: _Running, result: PollResult) -> None:
        """A finished answer: settle the success, or fail the job with the provider's reason."""
        if result.state is TaskState.SUCCEEDED:
            await self._succeeded(running, result)
            return
        failure = result.failure
        code = (failure.code if failure else "") or "task_failed"
        message = failure.user_message() if failure else N_("The provider reported a failure.")
        detail = f"{failure.title}: {failure.detail}" if failure else result.raw_status
        await self._fail(running.job_id, code, message, detail)
        self._running.pop(running.job_id, None)

    async def _next_look(self, running: _Running, now: float) -> float:
        """Seconds until the next look at a task just seen unfinished (the planner decides)."""
        estimate = await self.history.estimate(running.history_key)
        if self.pushed.relied_on(running.spec.provider):
            # Webhooks arrive: a look only in case this task's event never comes.
            return self.planner.safety_net_delay(
                estimate, now - running.submitted_at, running.polls
            )
        return running.plan(self.planner, estimate, now)

    async def _give_up(self, running: _Running, now: float) -> None:
        """The result could no longer be fetched even if the task finished now: stop."""
        moved = await self.store.mark_timed_out(running.job_id, now, GAVE_UP_WAITING)
        self._running.pop(running.job_id, None)
        if moved:
            log.warning("job %d: no result from task %s; gave up", running.job_id, running.task_id)
            self.outbox.wake()
            await self._notify(running.job_id)

    def _after_poll_error(self, running: _Running, exc: ProviderError) -> None:
        running.errors += 1
        if isinstance(exc, TaskNotFound):
            running.not_found += 1
            if running.not_found >= self.config.poll_not_found_limit:
                task = asyncio.get_running_loop().create_task(self._lose(running.job_id))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
                return
        if not exc.transient:
            log.error(
                "job %d: polling refused: %s (check the provider account)", running.job_id, exc
            )
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        now = self.clock()
        delay = min(
            self.planner.after_error(running.errors, retry_after),
            max(running.follow_until - now, 0.0),
        )
        self._poll_updates.append((running.job_id, now + delay, None, True))
        self.scheduler.push(now + delay, running.job_id, Action.POLL, running.spec.provider.value)

    async def _lose(self, job_id: int) -> None:
        await self._fail(
            job_id, "task_lost", N_("The provider no longer knows this task. Nothing was charged.")
        )
        self._running.pop(job_id, None)

    async def _succeeded(self, running: _Running, result: PollResult) -> None:
        now = self.clock()
        last = running.last_unfinished_at
        completed_at = None if last is None else (last + now) / 2
        exact = last is not None and self.planner.is_exact(now - last)
        billed = await self._trusted_cost(running, result)
        moved = await self.store.mark_succeeded(
            running.job_id,
            result.result_urls,
            billed,
            now,
            completed_at=completed_at,
            completion_exact=exact,
            completion_after=last,
            started_at=running.started_at,
        )
        self._running.pop(running.job_id, None)
        if moved:
            if completed_at is not None:
                self.telemetry.result_detected(running.spec.model_id, now - completed_at)
            self.outbox.wake()
            await self._notify(running.job_id)

    async def _trusted_cost(self, running: _Running, result: PollResult) -> Decimal | None:
        """The provider's billed cost, unless it is unreadable or not believable (above
        ``max_billed_over_estimate`` times the estimate): then ``None``, settled at the
        estimate, logged as an error and told to the server's staff. One bad figure must not
        empty a member's and a server's budgets, nor stop the result being posted."""
        billed = result.billed_cost
        ceiling = running.estimated_cost * self.config.max_billed_over_estimate
        if billed is not None and billed.is_finite() and Decimal(0) <= billed <= ceiling:
            return billed
        if billed is None and result.unreadable_cost is None:
            return None  # the provider reports no cost (MuleRouter): the estimate it is
        shown = result.unreadable_cost if billed is None else f"{billed} USD"
        log.error(
            "job %d: the provider reported a cost of %s against an estimate of %s USD; not "
            "trusted, settled at the estimate (check the provider account)",
            running.job_id,
            shown,
            running.estimated_cost,
        )
        job = await self.store.get_job(running.job_id)
        if job is not None:
            text = (
                f"The provider reported a cost of {shown} for job {job.id} (estimate "
                f"{running.estimated_cost} USD). It is unreadable or more than "
                f"{self.config.max_billed_over_estimate} times the estimate, so it was "
                "counted at the estimate; check the provider account."
            )
            # In the background: the scheduler never waits for the deliverer's destination.
            task = asyncio.get_running_loop().create_task(self._alert(job, text))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return None

    async def _alert(self, job: Job, text: str) -> None:
        try:
            await self.deliverer.alert(job, text)
        except Exception:
            log.exception("job %d: alert failed (ignored)", job.id)

    async def _fail(self, job_id: int, code: str, message: str, detail: str | None = None) -> None:
        if await self.store.mark_failed(job_id, code, message, self.clock(), detail=detail):
            await self.inputs.drop(job_id)
            self.outbox.wake()
            await self._notify(job_id)

    async def _notify(self, job_id: int) -> None:
        job = await self.store.get_job(job_id)
        if job is None:
            return
        if not job.state.generating and not job.state.waiting:
            self.waiting.wake()  # a slot may have freed: the member's queue moves on
        try:
            await self.deliverer.job_changed(job)
        except Exception:
            log.exception("job %d: status update failed (ignored)", job_id)

    def _track(self, job: Job) -> None:
        spec = spec_for(job.model_id, ProviderName(job.provider))
        assert job.task_id is not None
        assert job.submitted_at is not None
        self._running[job.id] = _Running(
            job.id,
            spec,
            job.task_id,
            job.submitted_at,
            job.deadline_at,
            job.history_key,
            job.estimated_cost,
            job.submitted_at + self.config.result_ttl_seconds,
            polls=job.poll_count,
            progress=job.progress,
        )

    # --- batched poll bookkeeping ---------------------------------------------------------------

    async def _flush_polls_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._flush_polls()
            except Exception:
                log.exception("saving poll bookkeeping failed; trying again in a second")

    async def _flush_polls(self) -> None:
        """Persist poll counters and next-poll times in one transaction a second.

        Losing the last second of these to a crash is harmless: the job is polled again on
        restart. State changes are never batched.
        """
        if not self._poll_updates:
            return
        updates, self._poll_updates = self._poll_updates, []
        try:
            await self.store.record_polls(updates)
        except BaseException:
            self._poll_updates[:0] = updates  # keep them for the next try
            raise

    def running_job_ids(self) -> list[int]:
        """Jobs the provider is working on, oldest first."""
        return sorted(self._running)
