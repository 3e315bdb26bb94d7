"""Crash safety: a real engine process is SIGKILLed at each phase, or SIGTERMed, and restarted.

Requirement: every job ends delivered exactly once or reported, never lost, never duplicated;
SIGTERM (``docker stop``) shuts down within 10 s with nothing lost and no new submissions; on
restart every job in flight resumes within seconds, polling continues where it stopped, and
results found but not yet delivered are delivered.

The provider simulator runs in this test's event loop; the engine runs in a separate process
(:mod:`tests.jobs.harness`) on a SQLite file and a posts file in ``tmp_path`` that survive it.
Each test reads back the database, the posts file and the simulator's request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest

from bot.catalog import spec_for
from bot.config import ProviderName
from bot.jobs.budget import Limits
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.jobs.store import job_from_row
from bot.simulator import RecordedRequest, SimulatorServer
from tests.jobs.support import FileDeliverer, build_engine
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(90)

REPO_ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "wanbot.sqlite3"
POSTS_NAME = "posts.jsonl"
SPEED = 90.0  # wan2.2-t2v-plus (90 simulated seconds) takes about 1 s
JOBS = 3
RUN_TIMEOUT = 30.0
RESUME_SECONDS = 3.0  # process start to first poll of a resumed job

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]


# --- the harness process -------------------------------------------------------------------------


@dataclass
class Run:
    returncode: int | None
    events: list[dict[str, Any]]
    started: float  # time.monotonic() just before the process was spawned
    log: str

    def event(self, name: str) -> dict[str, Any]:
        for event in self.events:
            if event["event"] == name:
                return event
        raise AssertionError(f"no {name!r} event in {self.events}\n{self.log}")

    def describe(self) -> str:
        return f"exit {self.returncode}, events {self.events}\n--- harness log tail ---\n{self.log}"


class Harness:
    """Spawns ``python -m tests.jobs.harness`` on one folder; stderr goes to a log file."""

    def __init__(self, simulator: SimulatorServer, folder: Path, speed: float) -> None:
        self.simulator = simulator
        self.folder = folder
        self.speed = speed
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.folder / f"harness-{self.runs}.log"

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def spawn(self, *args: str) -> asyncio.subprocess.Process:
        self.runs += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.jobs.harness",
                "--base-url",
                self.simulator.base_url,
                "--folder",
                str(self.folder),
                "--speed",
                str(self.speed),
                *args,
                cwd=REPO_ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )

    async def run(self, *args: str, limit: float = RUN_TIMEOUT) -> Run:
        """Run to the end (exit or crash); a hang fails after ``limit`` seconds."""
        started = time.monotonic()
        process = await self.spawn(*args)
        try:
            out, _ = await asyncio.wait_for(process.communicate(), limit)
        except TimeoutError:
            pytest.fail(f"harness {args} did not finish in {limit:.0f}s\n{self.log_tail()}")
        finally:
            await kill(process)
        return Run(process.returncode, parse_events(out), started, self.log_tail())


def parse_events(out: bytes) -> list[dict[str, Any]]:
    events = []
    for line in out.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return events


async def read_event(
    process: asyncio.subprocess.Process, name: str, within: float = RUN_TIMEOUT
) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + within
    while True:
        line = await asyncio.wait_for(
            process.stdout.readline(), max(deadline - time.monotonic(), 0.01)
        )
        if not line:
            raise AssertionError(f"harness exited ({process.returncode}) before {name!r}")
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == name:
                return event


async def kill(process: asyncio.subprocess.Process) -> None:
    """Leave nothing running: SIGKILL a process that is still alive and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)


# --- what the process left behind ---------------------------------------------------------------


@dataclass
class Snapshot:
    jobs: dict[int, Job]
    outbox: dict[tuple[int, str], sqlite3.Row]  # (job id, kind) -> row
    ledger: dict[int, list[str]]  # job id -> entries in order
    posts: list[dict[str, Any]]

    def states(self) -> Counter[JobState]:
        return Counter(job.state for job in self.jobs.values())

    def ids_in(self, *states: JobState) -> set[int]:
        return {job.id for job in self.jobs.values() if job.state in states}

    def posts_of(self, job_id: int) -> list[dict[str, Any]]:
        return [post for post in self.posts if post["job_id"] == job_id]


async def snapshot(folder: Path) -> Snapshot:
    """The database and the posts file, read without writing anything."""
    async with aiosqlite.connect(folder / DB_NAME) as db:
        db.row_factory = sqlite3.Row
        jobs = {
            row["id"]: job_from_row(row)
            for row in await db.execute_fetchall("SELECT * FROM jobs ORDER BY id")
        }
        outbox = {
            (row["job_id"], row["kind"]): row
            for row in await db.execute_fetchall("SELECT * FROM outbox ORDER BY id")
        }
        ledger: dict[int, list[str]] = {job_id: [] for job_id in jobs}
        for row in await db.execute_fetchall("SELECT job_id, entry FROM ledger ORDER BY id"):
            ledger[row["job_id"]].append(row["entry"])
    return Snapshot(jobs, outbox, ledger, FileDeliverer(folder / POSTS_NAME).posts())


async def wait_for_db(
    folder: Path, condition: Callable[[Counter[str]], bool], within: float
) -> Counter[str]:
    """Poll the job states of a live process's database until ``condition`` holds."""
    async with aiosqlite.connect(folder / DB_NAME) as db:

        async def states() -> Counter[str]:
            rows = await db.execute_fetchall("SELECT state FROM jobs")
            return Counter(row[0] for row in rows)

        return await wait_until(
            states, done=condition, timeout=within, message="the job states in the database"
        )


# --- what the simulator saw ---------------------------------------------------------------------


def creates(simulator: SimulatorServer) -> list[RecordedRequest]:
    return [
        r for r in simulator.state.requests if r.method == "POST" and r.path.endswith("/generation")
    ]


def polls(simulator: SimulatorServer, since: float = 0.0) -> list[RecordedRequest]:
    return [
        r
        for r in simulator.state.requests
        if r.method == "GET" and "/generation/" in r.path and r.at >= since
    ]


async def settle() -> None:
    """Let the simulator finish reading whatever a killed process had already sent."""
    await asyncio.sleep(0.2)


# --- invariants of a finished run ---------------------------------------------------------------


@dataclass
class Expect:
    delivered: set[int] = field(default_factory=set)
    unknown: set[int] = field(default_factory=set)


def assert_all_accounted_for(after: Snapshot, expect: Expect, simulator: SimulatorServer) -> None:
    """Every job final, posted exactly once, paid for once; every upstream task is a job's."""
    assert set(after.jobs) == expect.delivered | expect.unknown
    for job in after.jobs.values():
        assert job.state.final, f"job {job.id} is {job.state}"
    assert after.ids_in(JobState.DELIVERED) == expect.delivered, after.states()
    assert after.ids_in(JobState.SUBMISSION_UNKNOWN) == expect.unknown, after.states()

    # Exactly one post per job: a result for delivered jobs, a notice for the others.
    message_ids = [post["message_id"] for post in after.posts]
    assert len(message_ids) == len(set(message_ids)), after.posts
    for job in after.jobs.values():
        posts = after.posts_of(job.id)
        assert len(posts) == 1, f"job {job.id} was posted {len(posts)} times: {posts}"
        post = posts[0]
        if job.state is JobState.DELIVERED:
            assert post["kind"] == "result"
            assert post["files"] == [f"wan-{job.id}-1.mp4"], post  # downloaded, not links
            assert post["sizes"][0] > 0, post
            assert post["links"] == [], post
            assert job.delivered_message_ids == (post["message_id"],)
        else:
            assert post["kind"] == "notice"
            assert post["error_code"] == "submission_unknown", post
        for (job_id, kind), row in after.outbox.items():
            if job_id == job.id:
                assert row["delivered_at"] is not None, f"outbox {kind} of job {job_id}"
                assert json.loads(row["message_ids"]) == [post["message_id"]]

    # The ledger: one reservation each; delivered jobs settled, unknown ones stay reserved.
    for job in after.jobs.values():
        entries = after.ledger[job.id]
        assert entries.count("reserve") == 1, f"job {job.id}: {entries}"
        if job.state is JobState.DELIVERED:
            assert entries == ["reserve", "settle"], f"job {job.id}: {entries}"
        else:
            assert entries == ["reserve"], f"job {job.id}: {entries}"

    # Upstream: no task was created twice for a job, and every running job's task is real.
    task_ids = [job.task_id for job in after.jobs.values() if job.task_id is not None]
    assert len(task_ids) == len(set(task_ids))
    assert set(task_ids) <= set(simulator.state.tasks)
    orphans = set(simulator.state.tasks) - set(task_ids)
    assert len(orphans) <= len(expect.unknown), "an upstream task belongs to no reported job"
    # (A create answered while its sender was being killed has no recorded status.)
    accepted = [r for r in creates(simulator) if r.status == 202]
    assert len(accepted) <= len(simulator.state.tasks) <= len(creates(simulator))


# --- SIGKILL at each phase ----------------------------------------------------------------------

PHASES = ("created", "claimed", "after_submit", "polling", "succeeded", "after_post")


@pytest.mark.parametrize("phase", PHASES)
async def test_sigkill_at_each_phase_then_restart_delivers_exactly_once_or_reports(
    make_simulator: MakeSimulator,
    tmp_path: Path,
    phase: str,
) -> None:
    simulator = await make_simulator(speed=SPEED)
    harness = Harness(simulator, tmp_path, SPEED)

    first = await harness.run("--submit", str(JOBS), "--crash-at", phase)
    assert first.returncode == -signal.SIGKILL, first.describe()
    crash = first.event("crash")
    assert crash["phase"] == phase
    await settle()
    before = await snapshot(tmp_path)
    sent_before = len(creates(simulator))
    assert len(before.jobs) == JOBS, "every submitted job was persisted before the crash"
    not_claimed = before.ids_in(JobState.CREATED)
    caught = before.ids_in(JobState.SUBMITTING)

    second = await harness.run("--until-idle")
    assert second.returncode == 0, second.describe()
    assert second.event("idle")["jobs"] == JOBS
    after = await snapshot(tmp_path)

    # A create is sent once for each job not claimed before the crash, and never again for
    # a job that was claimed: those caught mid-create are reported, never resent.
    assert len(creates(simulator)) == sent_before + len(not_claimed), (
        f"creates: {sent_before} before the crash, {len(creates(simulator))} in all; "
        f"{len(not_claimed)} jobs were never claimed"
    )
    expect = Expect(delivered=set(before.jobs) - caught, unknown=caught)
    assert_all_accounted_for(after, expect, simulator)

    if phase == "created":
        assert before.states() == {JobState.CREATED: JOBS}
        assert sent_before == 0
    elif phase == "claimed":
        assert caught, before.states()
        assert sent_before == 0, "the create of a claimed job had not left"
        for job_id in caught:
            assert after.jobs[job_id].error_code == "submission_unknown"
    elif phase == "after_submit":
        assert caught, before.states()
        assert sent_before >= 1
        # The provider accepted (and bills) the task the crash cut off; the job is reported
        # with its reservation kept (checked above), and the task was not created again.
        assert crash["task_id"] in simulator.state.tasks
        assert crash["task_id"] not in {job.task_id for job in after.jobs.values()}
    elif phase == "polling":
        assert before.states() == {JobState.RUNNING: JOBS}
        assert sent_before == JOBS
        task_ids = {job.task_id for job in before.jobs.values()}
        assert {job.task_id for job in after.jobs.values()} == task_ids
        # Polling continued where it stopped: the same tasks, looked at again at once.
        resumed = polls(simulator, since=second.started)
        assert {r.task_id for r in resumed} == task_ids, "every running job polled again"
        assert resumed[0].at - second.started < RESUME_SECONDS, (
            f"first poll {resumed[0].at - second.started:.2f}s after the restart began"
        )
        print(f"first poll {resumed[0].at - second.started:.2f}s after the restart began")
    elif phase == "succeeded":
        # The result was found and queued, not delivered: the restart delivers it.
        job_id = crash["job_id"]
        assert before.jobs[job_id].state is JobState.SUCCEEDED
        assert before.jobs[job_id].result_urls
        row = before.outbox[(job_id, "result")]
        assert row["attempts"] == 0
        assert row["delivered_at"] is None
        assert before.posts == []
        assert sent_before == JOBS
    elif phase == "after_post":
        job_id = crash["job_id"]
        [message_id] = crash["message_ids"]
        assert [p["message_id"] for p in before.posts_of(job_id)] == [message_id]
        row = before.outbox[(job_id, "result")]
        assert row["delivered_at"] is None, "posted, not recorded"
        assert row["attempts"] == 1
        assert before.jobs[job_id].state is JobState.DELIVERING
        # Reconciled on the next attempt: the earlier post is recorded, not posted again.
        assert after.jobs[job_id].delivered_message_ids == (message_id,)
        assert after.outbox[(job_id, "result")]["attempts"] == 2
        assert [p["kind"] for p in after.posts] == ["result"] * JOBS


async def test_two_crashes_in_a_row_still_report_exactly_once(
    make_simulator: MakeSimulator,
    tmp_path: Path,
) -> None:
    """Killed mid-create, then killed again right after the restart posted the notice about
    it: the third run records that notice instead of posting it again."""
    simulator = await make_simulator(speed=SPEED)
    harness = Harness(simulator, tmp_path, SPEED)

    first = await harness.run("--submit", str(JOBS), "--crash-at", "claimed")
    assert first.returncode == -signal.SIGKILL, first.describe()
    await settle()
    caught = (await snapshot(tmp_path)).ids_in(JobState.SUBMITTING)
    assert caught

    second = await harness.run("--crash-at", "after_notice")
    assert second.returncode == -signal.SIGKILL, second.describe()
    crash = second.event("crash")
    assert crash["job_id"] in caught
    await settle()
    middle = await snapshot(tmp_path)
    assert middle.jobs[crash["job_id"]].state is JobState.SUBMISSION_UNKNOWN
    assert middle.outbox[(crash["job_id"], "notice")]["delivered_at"] is None
    # The second run was also sending the other jobs: any caught mid-create are reported too.
    caught |= middle.ids_in(JobState.SUBMITTING)
    sent_before = len(creates(simulator))
    not_claimed = middle.ids_in(JobState.CREATED)

    third = await harness.run("--until-idle")
    assert third.returncode == 0, third.describe()
    after = await snapshot(tmp_path)
    assert_all_accounted_for(
        after, Expect(delivered=set(after.jobs) - caught, unknown=caught), simulator
    )
    assert after.outbox[(crash["job_id"], "notice")]["attempts"] == 2
    assert len(creates(simulator)) == sent_before + len(not_claimed), "a create was resent"


# --- SIGTERM ------------------------------------------------------------------------------------


async def test_sigterm_stops_within_10s_persists_state_and_loses_nothing(
    make_simulator: MakeSimulator,
    tmp_path: Path,
) -> None:
    speed = 30.0  # a job takes about 3 s: mid-flight when the signal comes
    jobs = 5
    simulator = await make_simulator(speed=speed)
    harness = Harness(simulator, tmp_path, speed)
    # Two provider requests a second: some jobs are still waiting to be sent at the signal.
    process = await harness.spawn("--serve", "--submit", str(jobs), "--rps", "2")
    try:
        await read_event(process, "ready")
        await wait_for_db(tmp_path, lambda s: s[JobState.RUNNING.value] >= 1, 10.0)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            out, _ = await asyncio.wait_for(process.communicate(), 10.0)
        except TimeoutError:
            pytest.fail(f"no exit within 10 s of SIGTERM\n{harness.log_tail()}")
        took = time.monotonic() - signalled
    finally:
        await kill(process)
    assert process.returncode == 0, f"exit {process.returncode}\n{harness.log_tail()}"
    assert took < 10.0
    print(f"SIGTERM to exit: {took:.2f}s")
    stopped = parse_events(out)[-1]
    assert stopped["event"] == "stopped", stopped
    assert stopped["refused_new_job"] is True, "a job was accepted during the shutdown"
    await settle()

    before = await snapshot(tmp_path)
    assert len(before.jobs) == jobs, "the job offered during shutdown was refused, not stored"
    states = before.states()
    assert not states[JobState.SUBMITTING], "a create was cut off by the shutdown"
    # No new submissions: jobs still waiting at the signal were not sent during the shutdown.
    late = [r for r in creates(simulator) if r.at > signalled + 0.25]
    assert not late, f"{len(late)} create request(s) sent during the shutdown"
    waiting = before.ids_in(JobState.CREATED)
    assert waiting, f"expected jobs still waiting to be sent at the signal: {states}"
    for job_id in waiting:
        assert before.jobs[job_id].submit_attempts == 0
    sent = {r.task_id for r in creates(simulator)}
    assert len(creates(simulator)) == jobs - len(waiting)
    assert sent == {job.task_id for job in before.jobs.values() if job.task_id is not None}
    # State persisted: every poll answer of a job still running is counted in the database.
    for job in before.jobs.values():
        if job.state is JobState.RUNNING:
            seen = [r for r in polls(simulator) if r.task_id == job.task_id]
            assert job.poll_count == len(seen), f"job {job.id}: {job.poll_count} vs {len(seen)}"

    second = await harness.run("--until-idle")
    assert second.returncode == 0, second.describe()
    after = await snapshot(tmp_path)
    assert_all_accounted_for(after, Expect(delivered=set(before.jobs)), simulator)
    assert len(creates(simulator)) == jobs, "one create per job, none resent"
    # Jobs that were running resumed at once; those never sent were sent now.
    if before.ids_in(JobState.RUNNING):
        resumed = polls(simulator, since=second.started)
        assert resumed
        assert resumed[0].at - second.started < RESUME_SECONDS


# --- resume at scale ----------------------------------------------------------------------------


async def test_restart_resumes_polling_of_200_running_jobs_within_seconds(
    make_simulator: MakeSimulator,
    tmp_path: Path,
) -> None:
    jobs = 200
    rps = 100  # the restart polls at 100 requests a second (the engine's default is 20)
    speed = 1.0  # 90 s jobs: nothing finishes during the test
    simulator = await make_simulator(speed=speed)
    harness = Harness(simulator, tmp_path, speed)

    first = await harness.run(
        "--submit", str(jobs), "--crash-at", "polling", "--crash-polls", "1", "--rps", "1000"
    )
    assert first.returncode == -signal.SIGKILL, first.describe()
    await settle()
    before = await snapshot(tmp_path)
    assert before.states() == {JobState.RUNNING: jobs}
    task_ids = {job.task_id for job in before.jobs.values()}
    sent_before = len(creates(simulator))
    assert sent_before == jobs

    started = time.monotonic()
    process = await harness.spawn("--serve", "--rps", str(rps))
    try:
        await wait_until(
            lambda: len(task_ids - {r.task_id for r in polls(simulator, since=started)}),
            done=lambda unpolled: unpolled == 0,
            timeout=20.0,
            message=lambda: (
                f"every task polled again (last seen: how many were not)\n{harness.log_tail()}"
            ),
        )
        resumed = polls(simulator, since=started)
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10.0)
    finally:
        await kill(process)
    assert process.returncode == 0, harness.log_tail()

    first_look: dict[str, float] = {}
    for r in resumed:
        first_look.setdefault(str(r.task_id), r.at - started)
    assert set(first_look) == task_ids, f"{len(first_look)} of {jobs} polled\n{harness.log_tail()}"
    assert min(first_look.values()) < RESUME_SECONDS
    all_resumed = max(first_look.values())
    assert all_resumed < RESUME_SECONDS + jobs / rps, f"all polled after {all_resumed:.2f}s"
    print(f"{jobs} jobs: first poll {min(first_look.values()):.2f}s, all {all_resumed:.2f}s")
    assert len(creates(simulator)) == sent_before, "nothing was submitted again"
    after = await snapshot(tmp_path)
    assert after.states() == {JobState.RUNNING: jobs}
    assert {job.task_id for job in after.jobs.values()} == task_ids


# --- found while writing these tests --------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_same_image_submitted_while_another_job_is_accepted_keeps_its_input(
    make_simulator: MakeSimulator,
    tmp_path: Path,
    png_data_uri: Callable[[int, int], str],
) -> None:
    simulator = await make_simulator(speed=SPEED)
    async with aiohttp.ClientSession() as session:
        parts = await build_engine(simulator.base_url, tmp_path, session, speed=SPEED)
        store, engine = parts.store, parts.engine
        spec = spec_for("wan2.2-i2v-flash", ProviderName.MULEROUTER)
        real_create, real_running = store.create_job, store.mark_running
        first_accepted = asyncio.Event()

        async def create_job(new: Any, limits: Limits, now: float, **options: Any) -> Job:
            # A legal interleaving, made likely: the second job's insert is delayed (as it may
            # be, waiting for the store's lock) until the first job is accepted and its inputs
            # released, or for a second if the engine makes the first wait for it instead.
            if new.request["prompt"] == "second":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(first_accepted.wait(), 1.0)
            return await real_create(new, limits, engine.clock(), **options)

        async def mark_running(job_id: int, *args: Any) -> list[str]:
            unused = await real_running(job_id, *args)
            first_accepted.set()
            return unused

        store.create_job = create_job  # type: ignore[method-assign]
        store.mark_running = mark_running  # type: ignore[method-assign]
        await engine.start()
        try:
            image = png_data_uri(640, 640)
            limits = Limits(max_concurrent_per_user=None)
            await engine.submit(
                user_id=1,
                guild_id=None,
                channel_id=None,
                spec=spec,
                request=spec.parse({"prompt": "first", "image": image}),
                limits=limits,
            )
            second = await engine.submit(
                user_id=1,
                guild_id=None,
                channel_id=None,
                spec=spec,
                request=spec.parse({"prompt": "second", "image": image}),
                limits=limits,
            )

            async def second_job() -> Job:
                job = await store.get_job(second.id)
                assert job is not None, f"no job {second.id}"
                return job

            job = await wait_until(
                second_job,
                done=lambda job: job.state not in (JobState.CREATED, JobState.SUBMITTING),
                timeout=4.0,
                interval=0.02,
                message="the second job to be submitted",
            )
            assert job.state is JobState.RUNNING, (job.state, job.error_code, job.error_message)
        finally:
            await engine.stop()
            await store.close()
