"""Benchmark: one busy channel under Discord's per-channel write limit (5 writes per 5 s).

Run it from the repository root (it is a script, not a test)::

    .venv/bin/python bench/discord_writes.py                          # 50 three-minute jobs
    .venv/bin/python bench/discord_writes.py --jobs 20 --seconds 60   # a quick check
    .venv/bin/python bench/discord_writes.py --help                   # every option

Why it exists: every job posts a status message, edits it as the job moves (and the refresh loop
edits every running job's status message every ``WANBOT_STATUS_REFRESH_SECONDS``), then posts
its result, all in the channel where it was asked for. Discord lets a bot write 5 times per 5 s
in one channel; beyond that it answers 429. This measures what that costs the members (how late
results appear) and whether the provider polling carries on while Discord holds the bot back.

What it does:

1. Starts the provider simulator in its own process (``python -m bot simulator``, speed 1, on
   127.0.0.1) and sets wan2.2-t2v-plus to ``--seconds`` per job (``POST /_sim/config``).
2. Starts the Discord emulator in this process with ``channel_write_limit=(5, 5.0)`` and the
   real, unmodified bot as a process against both, with the production poll settings and
   status refresh interval (set explicitly, so a stray environment variable cannot change them).
3. Runs ``/wan-t2v`` in ``#general`` ``--jobs`` times, one member per job, one every
   ``--every`` seconds (all at once, no writer could post 50 results within 5 s of each other:
   the limit alone spaces them a second apart).
4. Waits until every job is finished and posted, then reads the simulator's tasks and requests,
   the emulator's record of the channel's writes, and the bot's database.

Printed and checked (exit status 0 only if every target passes): the delay from "seen" (the
simulator's first poll that saw the task finished) to the emulator accepting the result
message, p95 within ``TARGET_RESULT_P95`` s; the longest gap between two provider polls while any
job runs, within twice the bot's longest poll interval, with polls going on while Discord answers
429; the most accepted writes in any 5-second span of the channel, at most 5; every succeeded
job's result posted.

What it must never do: talk to anything but 127.0.0.1, or leave a process or temporary folder
behind (the simulator dies with it; the bot is stopped, then killed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the emulator lives in tests/, which is not installed

from simulator_process import Simulator, start_simulator  # noqa: E402

from bot.config import Settings  # noqa: E402
from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig  # noqa: E402
from tests.emulator.handles import InteractionHandle  # noqa: E402
from tests.emulator.recorder import RecordedRequest  # noqa: E402
from tests.emulator.write_limits import CHANNEL_WRITE_ROUTES  # noqa: E402

MODEL_ID = "wan2.2-t2v-plus"  # /wan-t2v: needs no input image
WRITE_LIMIT = (5, 5.0)
TARGET_RESULT_P95 = 5.0
TERMINAL = {"delivered", "failed", "timed_out", "cancelled", "submission_unknown"}
PROMPT = "a lighthouse on a cliff at dusk, waves, slow dolly in, take {n}"


# --- small helpers ----------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"median {pct(values, 50):.2f}s, p95 {pct(values, 95):.2f}s, max {max(values):.2f}s "
        f"(n={len(values)})"
    )


def merge(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping intervals joined, in order."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def longest_gap(points: Sequence[float], busy: Sequence[tuple[float, float]]) -> float:
    """The longest stretch inside a busy interval without a point (edges count as points)."""
    best = 0.0
    ordered = sorted(points)
    for start, end in busy:
        inside = [start, *(p for p in ordered if start <= p <= end), end]
        best = max(best, *(b - a for a, b in itertools.pairwise(inside)))
    return best


def clip(
    intervals: Sequence[tuple[float, float]], low: float, high: float
) -> list[tuple[float, float]]:
    """The parts of ``intervals`` inside ``[low, high]``."""
    return [(max(a, low), min(b, high)) for a, b in intervals if max(a, low) < min(b, high)]


# --- the simulator process ------------------------------------------------------------------


# --- the bot's database (read-only) -----------------------------------------------------------


@dataclass
class JobRow:
    id: int
    user_id: int
    state: str
    task_id: str | None
    status_message_id: int | None
    delivered_message_ids: list[int]
    finished_at: float | None  # wall clock, when the bot saw the task end


def read_jobs(db_path: Path, channel_id: int) -> list[JobRow]:
    """The channel's jobs, through a read-only connection (never the bot's write lock)."""
    if not db_path.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)) as db:
        try:
            rows = db.execute(
                "SELECT id, user_id, state, task_id, status_message_id,"
                " delivered_message_ids, finished_at FROM jobs WHERE channel_id = ? ORDER BY id",
                (channel_id,),
            ).fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []
    return [
        JobRow(
            id=row[0],
            user_id=row[1],
            state=row[2],
            task_id=row[3],
            status_message_id=row[4],
            delivered_message_ids=[int(i) for i in json.loads(row[5] or "[]")],
            finished_at=row[6],
        )
        for row in rows
    ]


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Figures:
    lines: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, text: str = "") -> None:
        self.lines.append(text)

    def target(self, label: str, ok: bool, shown: str, goal: str) -> None:
        self.verdicts.append((label, ok))
        self.add(f"  {label:<44} {shown:>12}   target {goal:<14} {'PASS' if ok else 'MISS'}")


@dataclass
class Submission:
    user_id: int
    at: float  # loop time (monotonic) of the command
    handle: InteractionHandle


async def run(args: argparse.Namespace, folder: Path, sim: Simulator) -> Figures:
    defaults = Settings.model_fields
    poll_min = float(defaults["poll_interval_min"].default)
    poll_max = float(defaults["poll_interval_max"].default)
    refresh = float(defaults["status_refresh_seconds"].default)
    await sim.configure(
        {
            "durations": {MODEL_ID: args.seconds},
            "duration_jitter": args.jitter,
            "pending_share": 0.1,
            "max_recorded_requests": 1_000_000,
        }
    )
    config = EmulatorConfig(channel_write_limit=WRITE_LIMIT, channel_write_window=args.window)
    db_path = folder / "wanbot.sqlite3"
    env = {
        "WANBOT_DATABASE": str(db_path),
        "WANBOT_MEDIA_DIR": str(folder / "media"),
        "MULEROUTER_BASE_URL": sim.base_url,
        "MULEROUTER_API_KEY": sim.keys["mulerouter"],
        "VTRIX_BASE_URL": sim.base_url,
        "VTRIX_API_KEY": sim.keys["vtrix"],
        # The production values, written out so the environment cannot change them.
        "WANBOT_POLL_MIN_SECONDS": repr(poll_min),
        "WANBOT_POLL_MAX_SECONDS": repr(poll_max),
        "WANBOT_STATUS_REFRESH_SECONDS": repr(refresh),
        "WANBOT_LOG_LEVEL": "INFO",
        "WANBOT_HTTP_PORT": "off",  # nothing here needs it; 8080 may be taken
    }
    async with DiscordEmulator(config) as discord:
        channel = discord.guild.channels["general"]
        users = [discord.add_user(f"bench{i:03d}", roles=["member"]) for i in range(args.jobs)]
        bot = BotProcess(discord, env=env)
        await bot.start()
        try:
            await discord.wait_ready(60, commands=True)
            print(f"  bot ready (pid {bot.pid}); submitting", file=sys.stderr, flush=True)
            outcome = await drive(args, discord, bot, users, db_path, channel.id)
        finally:
            await bot.stop()
            (folder / "bot.log").write_text(bot.output + "\n", errors="replace")
        sim_tasks = {t["id"]: t for t in (await sim.get("/_sim/tasks"))["tasks"]}
        sim_requests = (await sim.get("/_sim/requests"))["requests"]
        return await figures(
            args, discord, bot, outcome, sim_tasks, sim_requests, (poll_min, poll_max, refresh)
        )


@dataclass
class Outcome:
    submissions: list[Submission]
    jobs: list[JobRow]
    finished: bool
    elapsed: float
    wall_offset: float  # time.time() - time.monotonic() in this process


async def drive(
    args: argparse.Namespace,
    discord: DiscordEmulator,
    bot: BotProcess,
    users: Sequence[Any],
    db_path: Path,
    channel_id: int,
) -> Outcome:
    """Submit the jobs on schedule, then wait until every one is finished and posted."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    writes = discord.channel_writes(channel_id)
    submissions: list[Submission] = []
    deadline = started + args.timeout
    last_progress = started
    jobs: list[JobRow] = []
    while True:
        now = loop.time()
        while len(submissions) < args.jobs and now >= started + len(submissions) * args.every:
            user = users[len(submissions)]
            prompt = PROMPT.format(n=len(submissions) + 1)
            handle = await discord.slash(user, "general", "wan-t2v", {"prompt": prompt})
            submissions.append(Submission(user.id, loop.time(), handle))
        jobs = await asyncio.to_thread(read_jobs, db_path, channel_id)
        submitted_all = len(submissions) == args.jobs
        answered = all(s.handle.answered_at is not None for s in submissions)
        settled = submitted_all and (
            len(jobs) >= args.jobs or (answered and now - submissions[-1].at > 30)
        )
        if settled and all(job.state in TERMINAL for job in jobs):
            return Outcome(submissions, jobs, True, now - started, time.time() - time.monotonic())
        if now >= deadline or not bot.running:
            print("  giving up: " + ("timeout" if bot.running else "the bot exited"))
            return Outcome(submissions, jobs, False, now - started, time.time() - time.monotonic())
        if now - last_progress >= args.progress:
            last_progress = now
            states = Counter(job.state for job in jobs)
            print(
                f"  [{now - started:5.0f}s] submitted {len(submissions)}/{args.jobs}; "
                + ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
                + f"; channel writes {len(writes.accepted)}, 429s {writes.rate_limited}",
                file=sys.stderr,
                flush=True,
            )
        await asyncio.sleep(0.5)


def write_kind(request: RecordedRequest) -> str:
    """What a channel write was: a post with files (a result), another post, an edit."""
    if request.method == "POST":
        return "post with files" if request.files else "post"
    return "edit" if request.method == "PATCH" else "delete"


def densest_span(requests: Sequence[RecordedRequest], seconds: float) -> list[RecordedRequest]:
    """The most requests inside any ``seconds``-long span, by arrival time."""
    ordered = sorted(requests, key=lambda r: r.at)
    best: tuple[int, int] = (0, 0)
    start = 0
    for end, request in enumerate(ordered):
        while request.at - ordered[start].at >= seconds:
            start += 1
        if end + 1 - start > best[1] - best[0]:
            best = (start, end + 1)
    return ordered[best[0] : best[1]]


def accepted_at(discord: DiscordEmulator, message_id: int) -> float | None:
    """When the emulator accepted a message (loop time), or None if it never had it."""
    try:
        return discord.message(message_id).created_at
    except KeyError:
        return None


async def figures(
    args: argparse.Namespace,
    discord: DiscordEmulator,
    bot: BotProcess,
    outcome: Outcome,
    sim_tasks: dict[str, dict[str, Any]],
    sim_requests: list[dict[str, Any]],
    poll_settings: tuple[float, float, float],
) -> Figures:
    poll_min, poll_max, refresh = poll_settings
    channel = discord.guild.channels["general"]
    writes = discord.channel_writes(channel)
    jobs = outcome.jobs
    by_user = {s.user_id: s for s in outcome.submissions}

    # (1) result delays: seen finished (simulator) -> result message accepted (emulator).
    delays: list[float] = []
    db_delays: list[float] = []
    undelivered: list[int] = []
    for job in jobs:
        if job.state != "delivered" or not job.delivered_message_ids:
            if job.state not in ("failed", "cancelled", "timed_out", "submission_unknown"):
                undelivered.append(job.id)  # succeeded (or never finished) without a result
            continue
        accepted = accepted_at(discord, job.delivered_message_ids[0])
        if accepted is None:
            undelivered.append(job.id)  # recorded as posted, but Discord never had it
            continue
        task = sim_tasks.get(job.task_id or "")
        if task is not None and task["seen_finished_at_monotonic"] is not None:
            delays.append(accepted - task["seen_finished_at_monotonic"])
        if job.finished_at is not None:
            db_delays.append(accepted - (job.finished_at - outcome.wall_offset))
    status_delays = [
        at - by_user[job.user_id].at
        for job in jobs
        if job.status_message_id is not None
        and job.user_id in by_user
        and (at := accepted_at(discord, job.status_message_id)) is not None
    ]
    latencies = [s.handle.attempts[0].latency for s in outcome.submissions if s.handle.attempts]
    late = sum(1 for s in outcome.submissions if s.handle.refused)

    # (2) provider polling while any job runs, and while Discord answers 429.
    ours = {job.task_id for job in jobs if job.task_id}
    tasks = [sim_tasks[t] for t in ours if t in sim_tasks]
    polls = sorted(
        r["at"]
        for r in sim_requests
        if r["method"] == "GET" and r["provider"] and r["task_id"] in ours
    )
    end = max(polls, default=0.0)
    busy = merge(
        [
            (t["created_monotonic"], t["seen_finished_at_monotonic"] or end)
            for t in tasks
            if t["created_monotonic"] <= (t["seen_finished_at_monotonic"] or end)
        ]
    )
    gap = longest_gap(polls, busy)
    refused = [
        r
        for r in discord.requests
        if r.status == 429 and r.route in CHANNEL_WRITE_ROUTES and str(channel.id) in r.path
    ]
    limited = merge([(r.at, r.at + float(r.response["retry_after"])) for r in refused])
    limited_span = (limited[0][0], limited[-1][1]) if limited else None
    polls_in_429 = sum(1 for p in polls if any(a <= p <= b for a, b in limited))
    polls_in_span = (
        sum(1 for p in polls if limited_span[0] <= p <= limited_span[1]) if limited_span else 0
    )
    # Inside the 429 span, only where some job was still running.
    gap_in_span = longest_gap(polls, clip(busy, *limited_span)) if limited_span else 0.0

    # (3) the channel's writes.
    write_requests = [
        r for r in discord.requests if r.route in CHANNEL_WRITE_ROUTES and str(channel.id) in r.path
    ]
    by_kind = Counter(
        (r.method, "429" if r.status == 429 else "ok" if (r.status or 0) < 300 else str(r.status))
        for r in write_requests
    )
    worst_window = writes.max_in_window(WRITE_LIMIT[1])
    densest = densest_span([r for r in write_requests if r.status != 429], WRITE_LIMIT[1])
    log_429 = sum(1 for line in bot.lines if "We are being rate limited" in line)
    log_errors = sum(1 for line in bot.lines if " ERROR " in line or "Traceback" in line)
    states = Counter(job.state for job in jobs)

    f = Figures()
    f.add("=" * 96)
    f.add(
        f"wanbot Discord writes benchmark: {len(outcome.submissions)} jobs in one channel, the "
        "real bot against the emulator"
    )
    f.add("=" * 96)
    f.add("configuration")
    f.add(
        f"  {args.jobs} x /wan-t2v ({MODEL_ID}) in #general, one member each, one every "
        f"{args.every:g}s; simulated {args.seconds:g}s per job ±{args.jitter:.0%} (uniform), "
        "simulator speed 1 in its own process"
    )
    f.add(
        f"  Discord write limit {WRITE_LIMIT[0]} per {WRITE_LIMIT[1]:g}s per channel "
        f"({args.window} window; creates, edits, deletes share it)"
    )
    f.add(
        f"  bot: production settings: poll {poll_min:g}s..{poll_max:g}s, status refresh "
        f"every {refresh:g}s"
    )
    f.add("")
    f.add("results")
    f.add(
        f"  run {outcome.elapsed:.0f}s{'' if outcome.finished else ' (NOT FINISHED)'}; jobs "
        + ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
        + (f"; succeeded but no result message: {undelivered}" if undelivered else "")
    )
    f.add(
        f"  interactions: first answer p95 {pct(latencies, 95) * 1000:.0f} ms, max "
        f"{max(latencies, default=math.nan) * 1000:.0f} ms; answered after the deadline: {late}"
    )
    f.add(f"  status message accepted after the command: {spread(status_delays)}")
    f.add(f"  result accepted after the simulator's first finished poll: {spread(delays)}")
    f.add(f"  result accepted after the job's finished_at in the database: {spread(db_delays)}")
    f.add(
        f"  provider polls {len(polls)} ({len(polls) / max(1, len(tasks)):.1f} per job); longest "
        f"gap while a job ran {gap:.1f}s"
    )
    if limited_span:
        f.add(
            f"  429s span {limited_span[1] - limited_span[0]:.0f}s (first to last, "
            f"{sum(b - a for a, b in limited):.1f}s inside retry_after waits): {polls_in_span} "
            f"polls in the span ({polls_in_429} inside the waits), longest gap in it while a "
            f"job ran {gap_in_span:.1f}s"
        )
    f.add(
        f"  channel writes accepted {len(writes.accepted)} "
        f"({len(writes.accepted) / max(1, len(jobs)):.1f} per job): "
        + ", ".join(f"{m} {k} {n}" for (m, k), n in sorted(by_kind.items()))
    )
    if densest:
        kinds = Counter(write_kind(r) for r in densest)
        f.add(
            f"  densest {WRITE_LIMIT[1]:g}s of writes ({len(densest)} over "
            f"{densest[-1].at - densest[0].at:.2f}s): "
            + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
        )
    if refused:
        waits = [float(r.response["retry_after"]) for r in refused]
        kinds = Counter(write_kind(r) for r in refused)
        f.add(
            f"  429s by write: {', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}; "
            f"retry_after median {pct(waits, 50):.2f}s, max {max(waits):.2f}s"
        )
    f.add(
        f"  429s the bot received {writes.rate_limited}; discord.py logged 'We are being rate "
        f"limited' {log_429} times; bot ERROR/Traceback lines {log_errors}"
    )
    f.add("")
    f.add("targets")
    f.target("run finished", outcome.finished, "yes" if outcome.finished else "no", "yes")
    f.target(
        "every succeeded job's result posted",
        not undelivered,
        f"{len(undelivered)} missing",
        "0 missing",
    )
    p95 = pct(delays, 95)
    f.target(
        "result delay p95 (seen -> accepted)",
        bool(delays) and p95 <= TARGET_RESULT_P95,
        f"{p95:.2f}s",
        f"<= {TARGET_RESULT_P95:g}s",
    )
    f.target(
        "longest provider poll gap while running",
        bool(polls) and gap <= 2 * poll_max,
        f"{gap:.1f}s",
        f"<= {2 * poll_max:g}s",
    )
    if limited_span and limited_span[1] - limited_span[0] >= 2 * poll_min:
        f.target(
            "polls go on while Discord answers 429",
            polls_in_span > 0 and gap_in_span <= 2 * poll_max,
            f"{polls_in_span} polls",
            "> 0",
        )
    f.target(
        f"most accepted writes in any {WRITE_LIMIT[1]:g}s",
        worst_window <= WRITE_LIMIT[0],
        str(worst_window),
        f"<= {WRITE_LIMIT[0]}",
    )
    f.add(f"  429s received: {writes.rate_limited} (no target)")
    f.add("=" * 96)
    return f


# --- entry point ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=50, help="jobs, all in one channel")
    parser.add_argument(
        "--seconds", type=float, default=180.0, help="simulated duration of each job"
    )
    parser.add_argument("--every", type=float, default=2.0, help="seconds between two submissions")
    parser.add_argument(
        "--jitter", type=float, default=0.1, help="simulator duration jitter (± share, uniform)"
    )
    parser.add_argument(
        "--window",
        choices=("fixed", "sliding"),
        default="fixed",
        help="the emulator's write window: fixed as Discord, or sliding (stricter)",
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument(
        "--progress", type=float, default=15.0, help="seconds between progress lines on stderr"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="give up after this many seconds (default: from jobs, every and seconds)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (database, logs)"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.seconds <= 0 or args.every < 0:
        parser.error("--jobs must be at least 1, --seconds above 0, --every 0 or more")
    if args.timeout is None:
        args.timeout = 300 + args.jobs * args.every + 2 * args.seconds * (1 + args.jitter)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="wanbot-bench-writes-"))
    sim: Simulator | None = None
    try:
        sim = start_simulator(folder, seed=args.seed)
        print(
            f"simulator pid {sim.process.pid} at {sim.base_url}; temp folder {folder}; "
            f"timeout {args.timeout:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        figures = asyncio.run(run(args, folder, sim))
        print("\n".join(figures.lines), flush=True)
        return 0 if all(ok for _, ok in figures.verdicts) else 1
    finally:
        if sim is not None:
            sim.stop()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
