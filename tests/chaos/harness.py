"""Chaos harness (issue #10): many members, all four models on both providers, faults on every
side at once, SIGKILLs of the bot; then the verdicts that must hold whatever the schedule.

Why this module exists: each fault is tested on its own elsewhere; what no single test shows is
the bot keeping its promises while they all happen together. ``tests/chaos/test_chaos.py`` (a
seeded run of about a minute, part of the suite) and ``bench/chaos.py`` (longer,
printing figures) share this module.

What runs (all on 127.0.0.1):

* the provider simulator as its own process (``python -m bot simulator``), steered only through
  its control API (``POST /_sim/config`` for random 429/500/503/slow (past the bot's HTTP
  timeout)/malformed/dropped answers and task failures, ``POST /_sim/faults`` for bursts);
* the Discord emulator in this process, with members running the four generation commands (and
  sometimes ``/jobs cancel``) in four channels, with real PNG attachments;
* the real bot process (``python -m tests.emulator.launch``), SIGKILLed at planned moments and
  restarted on the same database (each planned restart flips ``WAN_I2V_FLASH_PROVIDER`` between
  MuleRouter and Vtrix, so both providers serve jobs; one kill falls inside the failing-writes
  window, so start-up meets it too); a supervisor restarts it when it dies by itself.

Faults, from one seeded schedule: random Discord 429s (some global) and 5xx on channel posts,
edits, history reads and interaction edits; a Discord 5xx outage of every ``/channels/*`` route;
a provider outage; scripted provider bursts; ``Attach Files`` denied to the bot in ``#studio``
(its uploads there answer 403 / 50013); ``#doomed`` deleted while jobs there are in flight; a
window in which the database is write-locked from outside (``BEGIN EXCLUSIVE`` held longer than
the bot's busy timeout, so its writes fail with "database is locked"); Discord's per-channel
write limit stays on throughout.

Verdicts, computed once the run is quiet (every job final, the outbox drained, or nothing left
to happen), from the emulator's messages (every result and notice carries the footer marker
``wanbot job #N · result|notice``, in any channel or DM) and the bot's SQLite file, read only:

* **lost** (must be 0): a job that was neither delivered nor told, and is not legitimately
  waiting (see :func:`legit_retry`: a retry the bot's own limits bound that has not failed again
  since the faults stopped); a "Queued as job #N" answer for a job the database does not have;
* **posted twice** (must be 0): more than one result, more than one notice, or both, for a job;
* **ledger mismatches** (must be 0): a job whose ledger entries do not sum to what the job costs
  by its final state (see :func:`expected_charge`), or whose entries are malformed; and per
  member, the ledger total against the sum of their jobs' costs.

Everything else (jobs told but not delivered and why, the provider's own view of what it billed,
corrupt files, log errors) is printed as figures; nothing there depends on being asserted.
"""

# Waiting helpers take a ``timeout`` in seconds, as the tests call them.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import io
import json
import random
import re
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from bot.discord_ui.embeds import marker
from bot.jobs.money import from_micros, to_micros
from bot.jobs.records import Job
from bot.jobs.states import FINAL_STATES, JobState
from bot.jobs.store import job_from_row
from bot.pricing import format_usd
from bot.simulator import DEFAULT_MULEROUTER_KEY, DEFAULT_VTRIX_KEY
from bot.simulator.media import sample_mp4
from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig
from tests.emulator import permissions as perms
from tests.emulator.handles import InteractionHandle
from tests.emulator.messages import StoredMessage
from tests.emulator.models import Channel
from tests.emulator.permissions import Overwrite

REPO_ROOT = Path(__file__).resolve().parents[2]

MEMBERS = ("alice", "bob", "staff", "carol", "dave", "erin")
NEW_MEMBERS = ("carol", "dave", "erin")
GENERAL, LOUNGE, STUDIO, DOOMED = "general", "lounge", "studio", "doomed"
# Where members run commands, with weights; #studio loses Attach Files, #doomed is deleted.
CHANNEL_WEIGHTS = {GENERAL: 0.35, LOUNGE: 0.25, STUDIO: 0.2, DOOMED: 0.2}
COMMAND_WEIGHTS = {"wan-t2v": 0.25, "wan-i2v": 0.25, "wan-i2v-flash": 0.3, "wan-i2i": 0.2}
PROMPTS = (
    "a lighthouse on a cliff at dusk, waves crashing",
    "a red fox running through fresh snow",
    "paper boats drifting down a rainy street",
    "a neon city seen from a slow drone flight",
    "autumn leaves swirling around a park bench",
)
# (width, height) of the input pictures members attach (inside every model's limits).
INPUT_SIZES = ((640, 480), (512, 512), (800, 600), (480, 720))
QUEUED = re.compile(r"Queued as job #(\d+)")
FOOTER = re.compile(r"^wanbot job #(\d+) · (\w+)$")
assert FOOTER.match(marker(12, "result")), "the footer marker changed: update FOOTER"
# Log lines the bot may print during chaos without that being a finding in itself.
EXPECTED_LOG_LINES = ("We are being rate limited", "PyNaCl is not installed", "davey")


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChaosPlan:
    """What one run does. Times are real seconds from the start of the active phase."""

    seed: int = 7
    jobs: int = 48  # commands the members run (a few are refused or cancelled)
    active_seconds: float = 40.0  # members act and faults strike during this phase
    sim_speed: float = 20.0  # simulated seconds per real second (t2v 90 s -> 4.5 s)
    kills: int = 2  # planned SIGKILLs of the bot
    discord_outage_seconds: float = 14.0  # every /channels/* route answers 5xx
    provider_outage_seconds: float = 6.0  # most provider requests answer 503/500
    db_lock_seconds: float = 13.0  # > the bot's 10 s busy timeout: its writes fail
    settle_seconds: float = 75.0  # longest wait for quiet after the active phase
    idle_exit_seconds: float = 15.0  # stop waiting early when nothing moved for this long
    provider_fault_rate: float = 0.025  # per request, for each of 429/500/503/malformed/drop
    task_failure_rate: float = 0.08  # tasks that fail upstream with a 3001-3005 error
    discord_fault_rate: float = 0.3  # chance per half second of one injected 429/5xx
    cancel_share: float = 0.08  # commands whose member cancels the job a few seconds later
    http_timeout: float = 3.0  # WANBOT_HTTP_TIMEOUT; "slow" answers take longer than this
    video_deadline: float = 90.0  # WANBOT_VIDEO_DEADLINE_SECONDS
    image_deadline: float = 60.0  # WANBOT_IMAGE_DEADLINE_SECONDS
    channel_write_limit: tuple[int, float] | None = (5, 5.0)  # Discord's per-channel bucket
    attach_403: bool = True  # deny Attach Files to the bot in #studio mid-run
    delete_channel: bool = True  # delete #doomed mid-run
    db_lock: bool = True  # the window of failing database writes
    kill_during_lock: bool = True  # one more SIGKILL early in that window
    bot_env: tuple[tuple[str, str], ...] = ()  # extra settings for the bot

    def describe(self) -> str:
        kills = self.kills + int(self.db_lock and self.kill_during_lock)
        return (
            f"seed {self.seed}, {self.jobs} commands over {self.active_seconds:.0f} s by "
            f"{len(MEMBERS)} members in {len(CHANNEL_WEIGHTS)} channels, simulator speed "
            f"{self.sim_speed:g}, {kills} SIGKILLs, Discord outage "
            f"{self.discord_outage_seconds:.0f} s, provider outage "
            f"{self.provider_outage_seconds:.0f} s, DB locked {self.db_lock_seconds:.0f} s"
        )


@dataclass(frozen=True)
class PlannedCommand:
    n: int
    at: float
    member: str
    channel: str
    command: str
    options: dict[str, Any]
    images: tuple[tuple[str, int], ...]  # (option name, index into the input pictures)
    cancel_after: float | None = None


@dataclass(frozen=True)
class FaultEvent:
    at: float
    kind: str  # kill | discord_outage | provider_outage | db_lock | attach_403 | delete_channel
    seconds: float = 0.0  # | sim_burst
    burst: dict[str, Any] | None = None

    def describe(self) -> str:
        if self.kind == "sim_burst" and self.burst is not None:
            b = self.burst
            where = f"{b.get('target', 'all')}/{b.get('phase', 'before')}"
            who = f" {b['provider']}" if b.get("provider") else ""
            return f"provider burst {b['count']}x {b['kind']} on {where}{who}"
        span = f" for {self.seconds:.1f}s" if self.seconds else ""
        return f"{self.kind}{span}"


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _command_options(
    rng: random.Random, command: str
) -> tuple[dict[str, Any], tuple[tuple[str, int], ...]]:
    prompt = rng.choice(PROMPTS)
    picture = rng.randrange(len(INPUT_SIZES))
    options: dict[str, Any] = {"prompt": prompt}
    if rng.random() < 0.3:
        options["seed"] = rng.randrange(1, 10_000)
    if command == "wan-t2v":
        options["size"] = rng.choice(("832*480", "480*832", "624*624", "1920*1080"))
        return options, ()
    if command == "wan-i2v":
        options["duration"] = rng.choice((5, 5, 10, 15))
        options["resolution"] = rng.choice(("720P", "1080P"))
        return options, (("image", picture),)
    if command == "wan-i2v-flash":
        options["resolution"] = rng.choice(("480P", "720P"))
        return options, (("image", picture),)
    options["n"] = rng.choice((1, 1, 2))
    images: tuple[tuple[str, int], ...] = (("image", picture),)
    if rng.random() < 0.3:
        images += (("image2", (picture + 1) % len(INPUT_SIZES)),)
    return options, images


def make_schedule(plan: ChaosPlan) -> tuple[list[PlannedCommand], list[FaultEvent]]:
    """The members' commands and the fault timeline, drawn from ``plan.seed`` only."""
    rng = random.Random(plan.seed)
    span = plan.active_seconds
    times = sorted(rng.uniform(0.5, span * 0.85) for _ in range(plan.jobs))
    commands = []
    for n, at in enumerate(times, start=1):
        command = _weighted(rng, COMMAND_WEIGHTS)
        options, images = _command_options(rng, command)
        cancel = rng.uniform(0.5, 5.0) if rng.random() < plan.cancel_share else None
        commands.append(
            PlannedCommand(
                n=n,
                at=at,
                member=rng.choice(MEMBERS),
                channel=_weighted(rng, CHANNEL_WEIGHTS),
                command=command,
                options=options,
                images=images,
                cancel_after=cancel,
            )
        )
    events: list[FaultEvent] = []
    for i in range(plan.kills):
        low, high = span * (i + 0.15) / plan.kills, span * (i + 0.85) / plan.kills
        events.append(FaultEvent(rng.uniform(low, high), "kill"))
    for kind, seconds, low, high in (
        ("discord_outage", plan.discord_outage_seconds, 0.15, 0.35),
        ("provider_outage", plan.provider_outage_seconds, 0.3, 0.6),
    ):
        if seconds > 0:
            # Early enough to last its whole length inside the active phase, where it can.
            latest = max(span * low, min(span * high, span - seconds - 1))
            start = rng.uniform(span * low, latest)
            events.append(FaultEvent(start, kind, min(seconds, span - start - 1)))
    if plan.db_lock and plan.db_lock_seconds > 0:
        start = rng.uniform(span * 0.45, span * 0.65)
        seconds = min(plan.db_lock_seconds, span - start - 1)
        events.append(FaultEvent(start, "db_lock", seconds))
        if plan.kill_during_lock:
            # A restart while writes fail: start-up itself must write (migrations, claims).
            events.append(FaultEvent(start + rng.uniform(0.5, seconds / 3), "kill"))
    if plan.attach_403:
        events.append(FaultEvent(rng.uniform(span * 0.25, span * 0.45), "attach_403"))
    if plan.delete_channel:
        events.append(FaultEvent(rng.uniform(span * 0.35, span * 0.55), "delete_channel"))
    slow = plan.http_timeout + 2.0
    bursts: tuple[dict[str, Any], ...] = (
        {"kind": "drop", "target": "poll", "count": 3},
        {"kind": "server_error", "target": "create", "phase": "after", "count": 2},
        {"kind": "drop", "target": "create", "phase": "after", "count": 1},
        {"kind": "slow", "target": "create", "count": 2, "seconds": slow},
        {"kind": "slow", "target": "poll", "count": 3, "seconds": slow},
        {"kind": "malformed", "target": "poll", "count": 3},
        {"kind": "malformed", "target": "create", "phase": "after", "count": 1},
        {"kind": "rate_limit", "target": "create", "count": 4, "retry_after": 2},
        {"kind": "unavailable", "target": "all", "count": 5},
        {"kind": "server_error", "target": "media", "count": 2},
        {"kind": "drop", "target": "media", "count": 2},
        {"kind": "malformed", "target": "media", "count": 1},
    )
    for _ in range(max(4, int(span / 8))):
        burst = dict(rng.choice(bursts))
        provider = rng.choice((None, None, "mulerouter", "vtrix"))
        if provider is not None:
            burst["provider"] = provider
        events.append(FaultEvent(rng.uniform(1.0, span * 0.9), "sim_burst", burst=burst))
    events.sort(key=lambda e: e.at)
    return commands, events


# --- small helpers ---------------------------------------------------------------------------


def png_bytes(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def _die_with_parent() -> None:
    """In the child: get SIGTERM if this process dies without cleaning up (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _clip(text: str, n: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --- the simulator process -------------------------------------------------------------------


class SimulatorProcess:
    """``python -m bot simulator`` on a free loopback port, steered through ``/_sim/``."""

    def __init__(self, folder: Path, *, speed: float, seed: int) -> None:
        self.folder = folder
        self.speed = speed
        self.seed = seed
        self.base_url = ""
        self.log_path = folder / "simulator.log"
        self._proc: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        with self.log_path.open("wb") as out:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "simulator",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--speed",
                repr(self.speed),
                "--seed",
                str(self.seed),
                cwd=str(REPO_ROOT),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if "simulator listening on " in line:
                    self.base_url = line.split("listening on ", 1)[1].split()[0]
                    if not self.base_url.startswith("http://127.0.0.1:"):
                        raise RuntimeError(f"simulator is not on loopback: {self.base_url}")
                    self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
                    return
            if self._proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise RuntimeError("the simulator did not start:\n" + self.log_path.read_text())

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        assert self._session is not None
        async with self._session.request(method, self.base_url + path, json=body) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise RuntimeError(f"simulator {method} {path}: {response.status} {data}")
            return data

    async def configure(self, changes: dict[str, Any]) -> None:
        await self._call("POST", "/_sim/config", changes)

    async def push_faults(self, *faults: dict[str, Any]) -> None:
        await self._call("POST", "/_sim/faults", list(faults))

    async def tasks(self) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = (await self._call("GET", "/_sim/tasks"))["tasks"]
        return tasks

    async def requests(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self._call("GET", "/_sim/requests"))["requests"]
        return found

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# --- the failing-writes window ----------------------------------------------------------------


async def hold_write_lock(db_path: Path, seconds: float) -> float:
    """Hold SQLite's write lock on ``db_path`` (``BEGIN EXCLUSIVE`` from another connection)
    for ``seconds``; returns how long it was held. In WAL mode readers carry on; the bot's
    writers wait its busy timeout (10 s), then fail with "database is locked"."""
    release = threading.Event()

    def hold() -> float:
        db = sqlite3.connect(str(db_path), timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            release.wait(seconds)
            db.execute("ROLLBACK")
            return time.monotonic() - started
        finally:
            db.close()

    worker = asyncio.ensure_future(asyncio.to_thread(hold))
    try:
        return await asyncio.shield(worker)
    except asyncio.CancelledError:
        release.set()
        with contextlib.suppress(Exception):
            await worker
        raise


# --- the bot process and its supervisor --------------------------------------------------------


class BotSupervisor:
    """Starts the bot, SIGKILLs it on plan and restarts it; restarts it when it dies by itself
    (as a container's restart policy would)."""

    def __init__(self, discord: DiscordEmulator, env: dict[str, str], say: Callable[[str], None]):
        self.discord = discord
        self.env = env
        self.say = say
        self.flash_provider = "mulerouter"
        self.providers_used: list[str] = []
        self.bot: BotProcess | None = None
        self.processes: list[BotProcess] = []
        self.ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self.kills = 0
        self.unexpected_exits: list[str] = []
        self.start_failures = 0

    async def start(self) -> None:
        async with self._lock:
            await self._spawn()

    async def _spawn(self) -> bool:
        identifies = self.discord.gateway.identifies
        bot = BotProcess(
            self.discord, env={**self.env, "WAN_I2V_FLASH_PROVIDER": self.flash_provider}
        )
        self.bot = bot
        self.processes.append(bot)
        self.providers_used.append(self.flash_provider)
        await bot.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and bot.running:
            try:
                await self.discord.wait_ready(1.0, identifies=identifies + 1, commands=True)
            except TimeoutError:
                continue
            self.ready.set()
            return True
        self.start_failures += 1
        self.say(f"bot start #{len(self.processes)} did not become ready:\n{bot.tail(15)}")
        await bot.kill()  # the watcher starts another
        return False

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def kill_and_restart(self) -> None:
        async with self._lock:
            assert self.bot is not None
            self.ready.clear()
            await self.bot.kill()
            self.kills += 1
            self.flash_provider = "vtrix" if self.flash_provider == "mulerouter" else "mulerouter"
            await self._spawn()

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            bot = self.bot
            if self._lock.locked() or bot is None or bot.running:
                continue
            async with self._lock:
                if self.bot is not bot:  # restarted meanwhile
                    continue
                self.ready.clear()
                self.unexpected_exits.append(f"exit {bot.returncode}: {_clip(bot.tail(3), 300)}")
                await asyncio.sleep(1.0)
                await self._spawn()

    async def shutdown(self) -> None:
        if self.bot is not None:
            await self.bot.stop()

    @property
    def lines(self) -> list[str]:
        return [line for bot in self.processes for line in bot.lines]


# --- reading the bot's database (read only) ----------------------------------------------------


@dataclass
class DbSnapshot:
    jobs: list[Job]
    ledger: list[dict[str, Any]]
    outbox: list[dict[str, Any]]


def read_db(db_path: Path) -> DbSnapshot:
    """Jobs, ledger and outbox through a read-only connection (never the bot's write lock)."""
    if not db_path.exists():
        return DbSnapshot([], [], [])
    uri = f"file:{db_path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
        db.row_factory = sqlite3.Row
        try:
            jobs = [job_from_row(row) for row in db.execute("SELECT * FROM jobs ORDER BY id")]
            ledger = [dict(row) for row in db.execute("SELECT * FROM ledger ORDER BY id")]
            outbox = [dict(row) for row in db.execute("SELECT * FROM outbox ORDER BY id")]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return DbSnapshot([], [], [])
            raise
    return DbSnapshot(jobs, ledger, outbox)


def expected_charge(job: Job) -> int:
    """Micro-dollars a job must count in the ledger, by its state (the store's rules).

    Still open (created/submitting/running): the estimate stays reserved. A result made:
    billed cost, else the estimate (also when only posting it failed afterwards: the store
    keeps that charge). Never sent, or failed upstream: nothing, unless the provider billed.
    Cancelled after the provider accepted it: the estimate (upstream still bills). Outcome
    unknown (submission_unknown; timed_out after acceptance once the store holds estimates):
    the estimate, until staff release the hold.
    """
    estimate = to_micros(job.estimated_cost)
    billed = None if job.billed_cost is None else to_micros(job.billed_cost)
    state = job.state
    if state in (JobState.CREATED, JobState.SUBMITTING, JobState.RUNNING):
        return estimate
    if state in (JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED):
        return billed if billed is not None else estimate
    if state is JobState.FAILED:
        if job.result_urls:
            return billed if billed is not None else estimate
        return billed if billed is not None else 0
    if state is JobState.CANCELLED:
        if job.submitted_at is None:
            return 0
        return billed if billed is not None else estimate
    holds = getattr(job, "holds_estimate", None)
    if holds is None:  # a store from before estimates were held
        if state is JobState.SUBMISSION_UNKNOWN:
            return estimate
        return billed if billed is not None else 0
    if holds:
        return estimate
    return billed if billed is not None else 0


# --- the verdicts ------------------------------------------------------------------------------


@dataclass
class CommandRecord:
    planned: PlannedCommand
    channel: str
    issued_at: float | None = None
    issued_wall: float | None = None
    handle: InteractionHandle | None = None
    error: str | None = None
    cancel_handle: InteractionHandle | None = None
    cancel_error: str | None = None

    def outcome(self) -> tuple[str, int | None, str]:
        """(queued | refused | unanswered | not sent, job id, text)."""
        if self.handle is None:
            return "not sent", None, self.error or "bot down"
        original = self.handle.original()
        if original is None or original.loading:
            refused = self.handle.refused
            if refused:
                why = f"callback refused {refused[0].status}/{refused[0].error_code}"
                return "unanswered", None, why
            if self.handle.record.response is None:
                return "unanswered", None, "not even acknowledged"
            return "unanswered", None, "acknowledged (thinking…), never answered"
        found = QUEUED.search(original.content)
        if found:
            return "queued", int(found.group(1)), original.content
        return "refused", None, original.content.splitlines()[0] if original.content else ""


@dataclass
class Posts:
    """The bot's result and notice messages per job, from every channel and DM."""

    by_job: dict[int, dict[str, list[StoredMessage]]]
    status_by_job: dict[int, list[StoredMessage]]


def collect_posts(discord: DiscordEmulator) -> Posts:
    by_job: dict[int, dict[str, list[StoredMessage]]] = defaultdict(lambda: defaultdict(list))
    status: dict[int, list[StoredMessage]] = defaultdict(list)
    bot_id = discord.bot_user.id
    for message in list(discord.state.messages.by_id.values()):
        if message.author_id != bot_id or message.ephemeral:
            continue
        for embed in message.embeds:
            found = FOOTER.match(str((embed.get("footer") or {}).get("text", "")))
            if found is None:
                continue
            job_id, kind = int(found.group(1)), found.group(2)
            if kind == "status":
                status[job_id].append(message)
            else:
                by_job[job_id][kind].append(message)
            break
    return Posts(by_job, status)


def corrupt_files(discord: DiscordEmulator, messages: Iterable[StoredMessage]) -> list[str]:
    """Attachments of result posts that are not whole media files."""
    bad = []
    video = sample_mp4()
    for message in messages:
        for attachment in message.attachments:
            name = str(attachment.get("filename", ""))
            try:
                data = discord.attachment_bytes(attachment)
            except KeyError:
                continue
            if name.endswith(".mp4"):
                if data != video:
                    bad.append(f"{name}: {len(data)} bytes, the video has {len(video)}")
                continue
            try:
                with Image.open(io.BytesIO(data)) as picture:
                    picture.load()
            except Exception as exc:
                bad.append(f"{name}: {type(exc).__name__}: {_clip(str(exc), 60)}")
    return bad


@dataclass
class JobVerdict:
    job: Job
    member: str
    channel: str
    outcome: str  # delivered | told | waiting | lost
    why: str
    results: int
    notices: int


@dataclass
class ChaosReport:
    plan: ChaosPlan
    lines: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    ledger_mismatches: list[str] = field(default_factory=list)
    verdicts: list[JobVerdict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def violations(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"lost {len(self.lost)} (must be 0)")
        if self.doubled:
            found.append(f"posted twice {len(self.doubled)} (must be 0)")
        if self.ledger_mismatches:
            found.append(f"ledger mismatches {len(self.ledger_mismatches)} (must be 0)")
        return found

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class SettleInfo:
    seconds: float
    how: str  # quiet | stuck | timeout


Baseline = dict[int, tuple[int, dict[int, int]]]


def attempts_baseline(snapshot: DbSnapshot) -> Baseline:
    """Per job: its submission attempts and each outbox row's attempts, at one moment."""
    rows: dict[int, dict[int, int]] = defaultdict(dict)
    for row in snapshot.outbox:
        rows[row["job_id"]][row["id"]] = row["attempts"]
    return {job.id: (job.submit_attempts, rows[job.id]) for job in snapshot.jobs}


def legit_retry(
    job: Job,
    outbox: list[dict[str, Any]],
    now: float,
    horizon: float,
    baseline: Baseline | None = None,
) -> float | None:
    """When the bot will next act on ``job`` by a rule that ends in a result or a notice, if
    that is within ``horizon`` seconds: a submission retry, a poll before the deadline, an
    outbox retry after its backoff; and, given the ``baseline`` taken when the faults stopped,
    only while no attempt has failed since (a retry still failing with every fault off is not
    waiting, it is stuck). ``None`` for finished or stuck work: a job left in ``submitting`` or
    ``delivering`` with nothing queued, an outbox row retried after unexpected errors."""
    submits, rows = (baseline or {}).get(job.id, (0, {}))
    due: list[float] = []
    fresh = baseline is None or job.submit_attempts <= submits
    if job.state is JobState.CREATED and job.next_attempt_at is not None and fresh:
        due.append(job.next_attempt_at)
    if job.state is JobState.RUNNING and now < job.deadline_at + 30:
        due.append(job.next_attempt_at if job.next_attempt_at is not None else now)
    for row in outbox:
        error = row["last_error"] or ""
        if (
            row["delivered_at"] is None
            and "unexpected" not in error
            and (baseline is None or row["attempts"] <= rows.get(row["id"], 0))
        ):
            due.append(float(row["next_attempt_at"]))
    soon = [t for t in due if now - 30 <= t <= now + horizon]
    return min(soon) if soon else None


def _describe_outbox(rows: list[dict[str, Any]]) -> str:
    parts = []
    for row in rows:
        if row["delivered_at"] is None:
            status = "pending"
        elif (row["last_error"] or "").startswith("abandoned"):
            status = "abandoned"
        else:
            status = "posted"
        error = f" ({_clip(row['last_error'], 90)})" if row["last_error"] else ""
        parts.append(f"{row['kind']} {status} after {row['attempts']} attempts{error}")
    return "; ".join(parts) or "no outbox row"


def analyse(
    *,
    snapshot: DbSnapshot,
    posts: Posts,
    records: list[CommandRecord],
    members: dict[int, str],
    channels: dict[int, str],
    now: float,
    baseline: Baseline | None = None,
) -> tuple[list[str], list[str], list[str], list[JobVerdict], list[str]]:
    """(lost, doubled, ledger mismatches, per-job verdicts, per-member lines)."""
    outbox: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in snapshot.outbox:
        outbox[row["job_id"]].append(row)
    jobs = {job.id: job for job in snapshot.jobs}
    lost: list[str] = []
    doubled: list[str] = []
    verdicts: list[JobVerdict] = []
    for job in snapshot.jobs:
        kinds = posts.by_job.get(job.id, {})
        results, notices = len(kinds.get("result", [])), len(kinds.get("notice", []))
        member = members.get(job.user_id, str(job.user_id))
        channel = channels.get(job.channel_id or 0, str(job.channel_id))
        error = f" {job.error_code}" if job.error_code else ""
        told_why = f"{job.state.value}{error}: {_clip(job.error_message or '', 90)}"
        if results:
            outcome, why = "delivered", job.state.value
        elif notices:
            outcome, why = "told", told_why
        else:
            due = legit_retry(job, outbox[job.id], now, float("inf"), baseline)
            state = f"{job.state.value}{error}" + (
                f" ({_clip(job.error_message, 70)})" if job.error_message else ""
            )
            why = f"{state} in #{channel}; {_describe_outbox(outbox[job.id])}"
            if due is not None:
                outcome, why = "waiting", f"{why}; next try in {max(due - now, 0):.0f}s"
            else:
                outcome = "lost"
                lost.append(f"job #{job.id} ({member}, {job.model_id}/{job.provider}): {why}")
        if results > 1 or notices > 1 or (results and notices):
            where = sorted(
                {channels.get(m.channel_id, str(m.channel_id)) for k in kinds.values() for m in k}
            )
            doubled.append(
                f"job #{job.id}: {results} result and {notices} notice posts in "
                f"{', '.join('#' + w for w in where)} (state {job.state.value})"
            )
        verdicts.append(JobVerdict(job, member, channel, outcome, why, results, notices))
    for record in records:
        state, job_id, _ = record.outcome()
        if state == "queued" and job_id is not None and job_id not in jobs:
            lost.append(f"job #{job_id}: the member was told it was queued; no such job")
    # Posts for jobs the database does not have.
    for job_id in sorted(set(posts.by_job) - set(jobs)):
        doubled.append(f"job #{job_id}: posted, but the database has no such job")

    # The ledger, job by job and member by member.
    mismatches: list[str] = []
    entries: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in snapshot.ledger:
        entries[row["job_id"]].append(row)
    for job_id in sorted(set(entries) - set(jobs)):
        mismatches.append(f"ledger entries for job #{job_id}, which does not exist")
    ledger_by_member: Counter[int] = Counter()
    expected_by_member: Counter[int] = Counter()
    for row in snapshot.ledger:
        ledger_by_member[row["user_id"]] += row["amount_micros"]
    for job in snapshot.jobs:
        rows = entries.get(job.id, [])
        expected = expected_charge(job)
        expected_by_member[job.user_id] += expected
        total = sum(row["amount_micros"] for row in rows)
        entry_kinds = Counter(row["entry"] for row in rows)
        problems = []
        if total != expected:
            problems.append(
                f"ledger {format_usd(from_micros(total))} != {format_usd(from_micros(expected))}"
            )
        reserves = [row for row in rows if row["entry"] == "reserve"]
        if len(reserves) != 1:
            problems.append(f"{len(reserves)} reserve entries")
        elif reserves[0]["amount_micros"] != to_micros(job.estimated_cost):
            problems.append("reserve differs from the estimate")
        if entry_kinds["settle"] > 1 or entry_kinds["release"] > 1:
            problems.append(f"entries {dict(entry_kinds)}")
        if any(row["user_id"] != job.user_id for row in rows):
            problems.append("an entry names another member")
        if problems:
            entry_text = ", ".join(
                f"{row['entry']} {format_usd(from_micros(row['amount_micros']))}" for row in rows
            )
            mismatches.append(
                f"job #{job.id} ({job.state.value}, estimate {format_usd(job.estimated_cost)}, "
                f"billed {job.billed_cost}): {'; '.join(problems)} [{entry_text}]"
            )
    member_lines = []
    for user_id in sorted(
        set(ledger_by_member) | set(expected_by_member), key=lambda u: members.get(u, str(u))
    ):
        name = members.get(user_id, str(user_id))
        mine = [v for v in verdicts if v.job.user_id == user_id]
        have, want = ledger_by_member[user_id], expected_by_member[user_id]
        ok = "ok" if have == want else "MISMATCH"
        if have != want:
            mismatches.append(
                f"member {name}: ledger {format_usd(from_micros(have))}, "
                f"jobs cost {format_usd(from_micros(want))}"
            )
        counts = Counter(v.outcome for v in mine)
        member_lines.append(
            f"  {name:<6} jobs {len(mine):>3}  delivered {counts['delivered']:>3}  told "
            f"{counts['told']:>3}  lost {counts['lost']:>2}  ledger "
            f"{format_usd(from_micros(have)):>8} = jobs {format_usd(from_micros(want)):>8}  {ok}"
        )
    return lost, doubled, mismatches, verdicts, member_lines


def provider_view(snapshot: DbSnapshot, sim_tasks: list[dict[str, Any]]) -> list[str]:
    """What the simulator billed against what the bot knows (figures, not invariants)."""
    by_task = {job.task_id: job for job in snapshot.jobs if job.task_id}
    created = Decimal(0)
    orphans = []
    produced_uncharged = []
    late = []
    for task in sim_tasks:
        cost = Decimal(task["cost"])
        created += cost
        job = by_task.get(task["id"])
        if job is None:
            orphans.append(task)
            continue
        if task["outcome"] == "succeeded" and expected_charge(job) == 0:
            produced_uncharged.append((job, cost))
        if job.state is JobState.TIMED_OUT and task["outcome"] == "succeeded":
            finished_wall = task["created_at"] + (
                task["finishes_at_monotonic"] - task["created_monotonic"]
            )
            if job.finished_at is not None and finished_wall < job.finished_at:
                late.append(f"#{job.id} (done {job.finished_at - finished_wall:.0f}s before)")
    lines = [
        f"provider view: {len(sim_tasks)} tasks created upstream, {format_usd(created)} billed "
        f"by the simulator at creation",
        f"  tasks no job knows (create answered badly; billed, never followed): {len(orphans)}"
        f" ({format_usd(sum((Decimal(t['cost']) for t in orphans), Decimal(0)))})",
        f"  results made upstream but charged 0 to the member: {len(produced_uncharged)}"
        + (
            " (" + ", ".join(f"#{j.id} {j.state.value}" for j, _ in produced_uncharged[:8]) + ")"
            if produced_uncharged
            else ""
        ),
        f"  timed out although the provider had finished (result thrown away): {len(late)}"
        + (f" ({', '.join(late[:8])})" if late else ""),
    ]
    return lines


# --- the run -----------------------------------------------------------------------------------


class ChaosRun:
    def __init__(
        self, plan: ChaosPlan, folder: Path, *, say: Callable[[str], None] | None = None
    ) -> None:
        self.plan = plan
        self.folder = folder
        self.say = say or (lambda text: None)
        self.records: list[CommandRecord] = []
        self.timeline: list[str] = []
        self.deleted: set[str] = set()
        self.channel_names: dict[int, str] = {}
        self.discord_faults = Counter[str]()
        self.discord_fault_objects: list[Any] = []
        self.outage_hits = 0
        self.kill_times: list[float] = []
        self.baseline: Baseline = {}
        self.faults_off_at = 0.0
        self.notes: list[str] = []
        self.pictures = [
            png_bytes(w, h, (40 + 50 * i, 120, 200 - 40 * i))
            for i, (w, h) in enumerate(INPUT_SIZES)
        ]
        self._t0 = 0.0

    @property
    def db_path(self) -> Path:
        return self.folder / "wanbot.sqlite3"

    def elapsed(self) -> float:
        return asyncio.get_running_loop().time() - self._t0

    def log(self, text: str) -> None:
        line = f"t={self.elapsed():5.1f}s {text}"
        self.timeline.append(line)
        self.say(line)

    async def _sleep_until(self, at: float) -> None:
        delay = self._t0 + at - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    # -- setting up ---------------------------------------------------------------------------

    def _sim_rates(self, *, active: bool) -> dict[str, Any]:
        rate = self.plan.provider_fault_rate if active else 0.0
        return {
            "rate_limit_rate": rate,
            "server_error_rate": rate,
            "unavailable_rate": rate,
            "slow_rate": rate / 2,
            "malformed_rate": rate,
            "drop_rate": rate,
        }

    def _bot_env(self, sim: SimulatorProcess) -> dict[str, str]:
        plan = self.plan
        return {
            "WANBOT_DATABASE": str(self.db_path),
            "WANBOT_MEDIA_DIR": str(self.folder / "media"),
            "MULEROUTER_BASE_URL": sim.base_url,
            "MULEROUTER_API_KEY": DEFAULT_MULEROUTER_KEY,
            "VTRIX_BASE_URL": sim.base_url,
            "VTRIX_API_KEY": DEFAULT_VTRIX_KEY,
            "WANBOT_POLL_MIN_SECONDS": "0.5",
            "WANBOT_POLL_MAX_SECONDS": "2",
            "WANBOT_HTTP_TIMEOUT": str(plan.http_timeout),
            "WANBOT_MAX_JOBS_PER_MEMBER": "8",
            "WANBOT_STATUS_REFRESH_SECONDS": "3",
            "WANBOT_VIDEO_DEADLINE_SECONDS": str(plan.video_deadline),
            "WANBOT_IMAGE_DEADLINE_SECONDS": str(plan.image_deadline),
            "WANBOT_LOG_LEVEL": "INFO",
            # Bots share this machine: none listens on the HTTP port (8080 by default).
            "WANBOT_HTTP_PORT": "off",
            **dict(plan.bot_env),
        }

    def _emulator_config(self) -> EmulatorConfig:
        config = EmulatorConfig(heartbeat_interval_ms=1000)
        names = {f.name for f in dataclasses.fields(EmulatorConfig)}
        if self.plan.channel_write_limit is not None:
            if "channel_write_limit" in names:
                config = dataclasses.replace(
                    config, channel_write_limit=self.plan.channel_write_limit
                )
            else:
                self.notes.append("the emulator has no channel_write_limit rule: not applied")
        return config

    def _build_server(self, discord: DiscordEmulator) -> None:
        guild = discord.guild
        member_role = guild.roles["member"]
        for name in NEW_MEMBERS:
            discord.add_user(name, roles=[member_role])
        category = guild.channels["Text Channels"]
        for name in (LOUNGE, STUDIO, DOOMED):
            guild.add_channel(name, category=category)
        self.channel_names = {c.id: c.name for c in guild.channels_by_id.values()}

    # -- faults -------------------------------------------------------------------------------

    def _deny_attach(self, discord: DiscordEmulator, name: str) -> None:
        role = discord.guild.role(discord.bot_user.username)
        set_permissions = getattr(discord, "set_permissions", None)
        if set_permissions is not None:
            set_permissions(name, role, deny=perms.ATTACH_FILES)
            return
        self.notes.append("the emulator has no set_permissions: overwrite set by the harness")
        channel = discord.guild.channel(name)
        channel.overwrites.append(Overwrite(id=role.id, type=0, deny=perms.ATTACH_FILES))
        discord.gateway.dispatch_soon(
            "CHANNEL_UPDATE", {**channel.payload(), "guild_id": str(discord.guild.id)}
        )

    def _delete_channel(self, discord: DiscordEmulator, name: str) -> Channel:
        delete = getattr(discord, "delete_channel", None)
        if delete is not None:
            channel: Channel = delete(name)
            return channel
        self.notes.append("the emulator has no delete_channel: channel removed by the harness")
        channel = discord.guild.channel(name)
        del discord.guild.channels_by_id[channel.id]
        discord.gateway.dispatch_soon(
            "CHANNEL_DELETE", {**channel.payload(), "guild_id": str(discord.guild.id)}
        )
        return channel

    async def _event(
        self,
        event: FaultEvent,
        discord: DiscordEmulator,
        sim: SimulatorProcess,
        bot: BotSupervisor,
    ) -> None:
        await self._sleep_until(event.at)
        rng = random.Random(f"{self.plan.seed}:{event.at}:{event.kind}")
        try:
            if event.kind == "kill":
                self.log("SIGKILL the bot")
                self.kill_times.append(self.elapsed())
                await bot.kill_and_restart()
                self.log(f"bot back (flash served by {bot.flash_provider})")
            elif event.kind == "discord_outage":
                self.log(f"Discord outage: every /channels/* route 5xx for {event.seconds:.0f}s")
                fault = discord.rules.inject_5xx("/channels/*", 10**9, status=502)
                clock = asyncio.get_running_loop().time
                end = clock() + event.seconds
                try:
                    while clock() < end:
                        fault.status = rng.choice((500, 502, 503, 504))
                        await asyncio.sleep(min(2.0, max(end - clock(), 0)))
                finally:
                    fault.remaining = 0
                    self.outage_hits = fault.hits
                self.log(f"Discord outage ends ({fault.hits} requests answered 5xx)")
            elif event.kind == "provider_outage":
                self.log(f"provider outage begins for {event.seconds:.0f}s")
                await sim.configure({"unavailable_rate": 0.7, "server_error_rate": 0.2})
                try:
                    await asyncio.sleep(event.seconds)
                finally:
                    await sim.configure(self._sim_rates(active=True))
                self.log("provider outage ends")
            elif event.kind == "db_lock":
                self.log(f"database write-locked from outside for {event.seconds:.0f}s")
                held = await hold_write_lock(self.db_path, event.seconds)
                self.log(f"database lock released (held {held:.1f}s)")
            elif event.kind == "attach_403":
                self._deny_attach(discord, STUDIO)
                self.log(f"Attach Files denied to the bot in #{STUDIO}")
            elif event.kind == "delete_channel":
                self._delete_channel(discord, DOOMED)
                self.deleted.add(DOOMED)
                self.log(f"#{DOOMED} deleted")
            elif event.kind == "sim_burst" and event.burst is not None:
                await sim.push_faults(event.burst)
                self.log(event.describe())
        except Exception as exc:
            self.log(f"fault {event.kind} went wrong: {type(exc).__name__}: {exc}")

    async def _discord_noise(self, discord: DiscordEmulator) -> None:
        """Random 429s and 5xx on posts, edits, history reads and interaction edits."""
        rng = random.Random(self.plan.seed + 2)
        routes = {
            "POST /channels/*/messages": 0.4,
            "PATCH /channels/*/messages/*": 0.3,
            "GET /channels/*/messages": 0.1,
            "PATCH /webhooks/*": 0.2,
        }
        while True:
            await asyncio.sleep(0.5)
            if rng.random() >= self.plan.discord_fault_rate:
                continue
            pending = sum(f.remaining for f in self.discord_fault_objects if f.remaining > 0)
            if pending >= 4:
                continue
            route = _weighted(rng, routes)
            if rng.random() < 0.5:
                is_global = rng.random() < 0.1
                fault = discord.rules.inject_429(
                    route, 1, retry_after=rng.choice((0.3, 1.0, 2.5)), is_global=is_global
                )
                self.discord_faults["429 global" if is_global else "429"] += 1
            else:
                status = rng.choice((500, 502, 503, 504))
                fault = discord.rules.inject_5xx(route, 1, status=status)
                self.discord_faults[str(status)] += 1
            self.discord_fault_objects.append(fault)

    # -- members ------------------------------------------------------------------------------

    async def _issue(
        self, planned: PlannedCommand, discord: DiscordEmulator, bot: BotSupervisor
    ) -> None:
        await self._sleep_until(planned.at)
        channel = GENERAL if planned.channel in self.deleted else planned.channel
        record = CommandRecord(planned, channel)
        self.records.append(record)
        if not await bot.wait_ready(30):
            record.error = "the bot was not up for 30 s"
            return
        attachments = {
            option: discord.cdn.add(
                f"in-{planned.n}-{option}.png", self.pictures[index], "image/png"
            )
            for option, index in planned.images
        }
        record.issued_at = self.elapsed()
        record.issued_wall = time.time()
        try:
            record.handle = await discord.slash(
                planned.member, channel, planned.command, planned.options, attachments=attachments
            )
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            return
        if planned.cancel_after is None:
            return
        job_id = await self._queued_job(record.handle, 20)
        if job_id is None:
            return
        await asyncio.sleep(planned.cancel_after)
        if not await bot.wait_ready(30):
            return
        try:
            record.cancel_handle = await discord.slash(
                planned.member, channel, "jobs cancel", {"job": job_id}
            )
        except Exception as exc:
            record.cancel_error = f"{type(exc).__name__}: {exc}"

    @staticmethod
    async def _queued_job(handle: InteractionHandle, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            original = handle.original()
            if original is not None:
                found = QUEUED.search(original.content)
                if found:
                    return int(found.group(1))
                if not original.loading:
                    return None
            await asyncio.sleep(0.2)
        return None

    # -- settling -----------------------------------------------------------------------------

    async def _settle(self, discord: DiscordEmulator, bot: BotSupervisor) -> SettleInfo:
        """Wait until every job is final and the outbox drained, or nothing can happen any
        more before the settle window ends."""
        plan = self.plan
        loop = asyncio.get_running_loop()
        start = loop.time()
        last_change, fingerprint, quiet = start, None, 0
        while loop.time() - start < plan.settle_seconds:
            snapshot = await asyncio.to_thread(read_db, self.db_path)
            now = time.time()
            open_jobs = [j for j in snapshot.jobs if j.state not in FINAL_STATES]
            pending = [r for r in snapshot.outbox if r["delivered_at"] is None]
            # Progress: a state change, a poll of a running job, an outbox row done, a new
            # message. Not attempt counters: a row retried without end is no progress.
            current = (
                tuple(
                    (j.id, j.state, j.poll_count if j.state is JobState.RUNNING else 0)
                    for j in snapshot.jobs
                ),
                tuple((r["id"], r["delivered_at"]) for r in snapshot.outbox),
                len(discord.state.messages.by_id),
            )
            if current != fingerprint:
                fingerprint, last_change = current, loop.time()
            if not open_jobs and not pending and bot.ready.is_set():
                quiet += 1
                if quiet >= 3:
                    return SettleInfo(loop.time() - start, "quiet")
            else:
                quiet = 0
            horizon = plan.settle_seconds - (loop.time() - start)
            outbox: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for row in snapshot.outbox:
                outbox[row["job_id"]].append(row)
            soon = [
                job.id
                for job in snapshot.jobs
                if legit_retry(job, outbox[job.id], now, horizon, self.baseline) is not None
            ]
            if loop.time() - last_change >= plan.idle_exit_seconds and not soon:
                return SettleInfo(loop.time() - start, "stuck")
            await asyncio.sleep(1.0)
        return SettleInfo(loop.time() - start, "timeout")

    # -- the whole run ------------------------------------------------------------------------

    async def run(self) -> ChaosReport:
        plan = self.plan
        began = time.monotonic()
        commands, events = make_schedule(plan)
        loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as stack:
            sim = SimulatorProcess(self.folder, speed=plan.sim_speed, seed=plan.seed)
            stack.push_async_callback(sim.stop)
            await sim.start()
            await sim.configure(
                {
                    "failure_rate": plan.task_failure_rate,
                    "after_create_share": 0.5,
                    "retry_after": 1,
                    "slow_seconds": plan.http_timeout + 1.5,
                    "max_recorded_requests": 200_000,
                    **self._sim_rates(active=True),
                }
            )
            discord = await stack.enter_async_context(DiscordEmulator(self._emulator_config()))
            self._build_server(discord)
            bot = BotSupervisor(discord, self._bot_env(sim), self.say)
            stack.push_async_callback(bot.shutdown)
            self._t0 = loop.time()
            await bot.start()
            self._t0 = loop.time()
            self.log(f"bot ready; active phase of {plan.active_seconds:.0f}s begins")
            background = [
                asyncio.create_task(bot.watch()),
                asyncio.create_task(self._discord_noise(discord)),
            ]
            work = [asyncio.create_task(self._event(e, discord, sim, bot)) for e in events]
            work += [asyncio.create_task(self._issue(c, discord, bot)) for c in commands]
            try:
                await asyncio.sleep(plan.active_seconds)
                _, late = await asyncio.wait(work, timeout=60)
                for task in late:
                    task.cancel()
                await asyncio.gather(*work, return_exceptions=True)
                background[1].cancel()
                discord.rules.faults.clear()
                await sim.configure(self._sim_rates(active=False))
                self.log("faults off (the #studio overwrite and the deleted channel stay)")
                self.baseline = attempts_baseline(await asyncio.to_thread(read_db, self.db_path))
                self.faults_off_at = loop.time()
                settle = await self._settle(discord, bot)
                self.log(f"settled: {settle.how} after {settle.seconds:.0f}s")
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
            snapshot = await asyncio.to_thread(read_db, self.db_path)
            posts = collect_posts(discord)
            sim_tasks = await sim.tasks()
            sim_requests = await sim.requests()
            report = self._report(
                plan, settle, snapshot, posts, discord, bot, sim_tasks, sim_requests
            )
            await bot.shutdown()
            (self.folder / "bot.log").write_text("\n".join(bot.lines))
        report.seconds = time.monotonic() - began
        report.lines.insert(1, f"run time {report.seconds:.0f}s (settle {settle.seconds:.0f}s)")
        return report

    # -- the report ---------------------------------------------------------------------------

    def _unanswered_with_job(self, snapshot: DbSnapshot, members: dict[int, str]) -> int:
        ids = {name: uid for uid, name in members.items()}
        claimed = {job_id for r in self.records if (job_id := r.outcome()[1]) is not None}
        found = 0
        for record in self.records:
            if record.outcome()[0] != "unanswered" or record.issued_wall is None:
                continue
            user_id = ids.get(record.planned.member)
            for job in snapshot.jobs:
                if (
                    job.user_id == user_id
                    and job.id not in claimed
                    and record.issued_wall - 1 <= job.created_at <= record.issued_wall + 60
                ):
                    claimed.add(job.id)
                    found += 1
                    break
        return found

    def _unanswered_before_kill(self) -> int:
        return sum(
            1
            for r in self.records
            if r.outcome()[0] == "unanswered"
            and r.issued_at is not None
            and any(0 <= k - r.issued_at <= 20 for k in self.kill_times)
        )

    def _report(
        self,
        plan: ChaosPlan,
        settle: SettleInfo,
        snapshot: DbSnapshot,
        posts: Posts,
        discord: DiscordEmulator,
        bot: BotSupervisor,
        sim_tasks: list[dict[str, Any]],
        sim_requests: list[dict[str, Any]],
    ) -> ChaosReport:
        members = {u.id: u.username for u in discord.users.values()}
        lost, doubled, mismatches, verdicts, member_lines = analyse(
            snapshot=snapshot,
            posts=posts,
            records=self.records,
            members=members,
            channels=self.channel_names,
            now=time.time(),
            baseline=self.baseline,
        )
        report = ChaosReport(plan, lost=lost, doubled=doubled, ledger_mismatches=mismatches)
        report.verdicts = verdicts
        out = report.lines
        out.append(f"wanbot chaos run: {plan.describe()}")
        out.append(f"settled: {settle.how}")
        if self.notes:
            out += [f"note: {n}" for n in dict.fromkeys(self.notes)]

        # What struck.
        sim_faults = Counter(
            f"{r['fault']}{'/after' if r.get('fault_phase') == 'after' else ''}"
            for r in sim_requests
            if r.get("fault")
        )
        hits = sum(f.hits for f in self.discord_fault_objects)
        out.append("faults:")
        out.append(
            "  provider answers faulted: "
            + (", ".join(f"{k} {v}" for k, v in sorted(sim_faults.items())) or "none")
            + f" (of {len(sim_requests)} requests)"
        )
        out.append(
            f"  Discord random faults injected {sum(self.discord_faults.values())} "
            f"({', '.join(f'{k} x{v}' for k, v in sorted(self.discord_faults.items()))}), "
            f"{hits} hit; outage 5xx answers {self.outage_hits}"
        )
        writes = getattr(discord, "write_limits", None)
        if writes is not None:
            limited = sum(w.rate_limited for w in writes.channels.values())
            out.append(f"  per-channel write limit 429s: {limited}")
        out.append(
            f"  SIGKILLs {bot.kills}; bot starts {len(bot.processes)} (flash provider per start: "
            f"{' -> '.join(bot.providers_used)}); unexpected exits {len(bot.unexpected_exits)}"
            f"; starts that never became ready {bot.start_failures}"
        )
        out += [f"    {e}" for e in bot.unexpected_exits[:5]]
        out.append("timeline:")
        out += [f"  {line}" for line in self.timeline]

        # Commands and jobs.
        outcomes: Counter[str] = Counter()
        refusals: Counter[str] = Counter()
        for record in self.records:
            state, _, text = record.outcome()
            outcomes[state] += 1
            if state in ("refused", "unanswered", "not sent"):
                refusals[f"{state}: {_clip(text, 90)}"] += 1
        cancels = sum(1 for r in self.records if r.cancel_handle is not None)
        out.append(
            f"commands: {len(self.records)} run; "
            + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            + f"; /jobs cancel run {cancels}"
        )
        out += [f"  {v} x {k}" for k, v in refusals.most_common(8)]
        out.append(
            "  unanswered commands that still made a job (matched by member and time): "
            f"{self._unanswered_with_job(snapshot, members)}; unanswered within 20 s before a "
            f"SIGKILL: {self._unanswered_before_kill()}"
        )
        mix = Counter(f"{j.model_id}/{j.provider}" for j in snapshot.jobs)
        out.append(
            f"jobs submitted {len(snapshot.jobs)}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(mix.items()))
        )
        by_outcome: dict[str, list[JobVerdict]] = defaultdict(list)
        for verdict in verdicts:
            by_outcome[verdict.outcome].append(verdict)
        out.append(f"delivered {len(by_outcome['delivered'])}")
        not_delivered_state = [
            v for v in by_outcome["delivered"] if v.job.state is not JobState.DELIVERED
        ]
        if not_delivered_state:
            out.append(
                f"  delivered in Discord but not 'delivered' in the database: "
                f"{len(not_delivered_state)} ("
                + ", ".join(f"#{v.job.id} {v.job.state.value}" for v in not_delivered_state[:8])
                + ")"
            )
        told = by_outcome["told"]
        out.append(f"told but not delivered {len(told)}:")
        reasons: dict[str, list[int]] = defaultdict(list)
        for verdict in told:
            job = verdict.job
            key = f"{job.state.value}" + (f" {job.error_code}" if job.error_code else "")
            key += f": {_clip(job.error_message or '', 80)}"
            reasons[key].append(job.id)
        for key, ids in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(f"#{i}" for i in ids[:10]) + (" …" if len(ids) > 10 else "")
            out.append(f"  {len(ids):>3} {key} [{shown}]")
        if by_outcome["waiting"]:
            out.append(f"still waiting (a retry due soon) {len(by_outcome['waiting'])}:")
            out += [f"  job #{v.job.id}: {v.why}" for v in by_outcome["waiting"][:10]]
        out.append(f"lost {len(lost)} (must be 0)" + (":" if lost else ""))
        out += [f"  {line}" for line in lost[:40]]
        out.append(f"posted twice {len(doubled)} (must be 0)" + (":" if doubled else ""))
        out += [f"  {line}" for line in doubled[:40]]
        out.append(f"ledger mismatches {len(mismatches)} (must be 0)" + (":" if mismatches else ""))
        out += [f"  {line}" for line in mismatches[:40]]
        out.append("per member (ledger total = what their jobs cost by their final states):")
        out += member_lines

        # Figures that are not invariants.
        out += provider_view(snapshot, sim_tasks)
        results = [m for kinds in posts.by_job.values() for m in kinds.get("result", [])]
        corrupt = corrupt_files(discord, results)
        linked = sum(1 for m in results if not m.attachments)
        out.append(
            f"result posts {len(results)} ({linked} with links instead of files); corrupt files "
            f"posted {len(corrupt)}" + (f": {'; '.join(corrupt[:5])}" if corrupt else "")
        )
        dms = set(discord.state.world.dm_channels)
        elsewhere: Counter[str] = Counter()
        for job in snapshot.jobs:
            for kind, messages in posts.by_job.get(job.id, {}).items():
                for message in messages:
                    if message.channel_id in dms:
                        elsewhere[f"{kind} by DM"] += 1
                    elif message.channel_id != job.channel_id:
                        elsewhere[f"{kind} in another channel"] += 1
        late = sorted(
            m.created_at - self.faults_off_at
            for kinds in posts.by_job.values()
            for messages in kinds.values()
            for m in messages
            if m.created_at > self.faults_off_at
        )
        out.append(
            f"results and notices posted after the faults stopped: {len(late)}"
            + (f", the last {late[-1]:.0f}s after" if late else "")
        )
        out.append(
            "posts outside the job's own channel: "
            + (", ".join(f"{k} {v}" for k, v in sorted(elsewhere.items())) or "none")
        )
        doubled_status = [j for j, ms in posts.status_by_job.items() if len(ms) > 1]
        no_status = [j.id for j in snapshot.jobs if j.id not in posts.status_by_job]
        out.append(
            f"status messages: jobs without one {len(no_status)}, with more than one "
            f"{len(doubled_status)}"
        )
        errors = [
            line
            for line in bot.lines
            if ("Traceback" in line or " ERROR " in line)
            and not any(ok in line for ok in EXPECTED_LOG_LINES)
        ]
        kinds = Counter(_error_kind(line) for line in errors if " ERROR " in line)
        out.append(
            f"bot log: {sum(1 for line in errors if 'Traceback' in line)} tracebacks, "
            f"{sum(kinds.values())} ERROR lines"
        )
        out += [f"  {v} x {k}" for k, v in kinds.most_common(8)]
        if discord.internal_errors:
            out.append(f"emulator internal errors: {len(discord.internal_errors)}")
        failed = "; ".join(report.violations)
        out.append("verdict: " + (f"FAIL: {failed}" if failed else "PASS"))
        return report


def _error_kind(line: str) -> str:
    """An ERROR log line without its timestamp and job numbers, to group alike ones."""
    text = line.split(" ERROR ", 1)[-1]
    text = re.sub(r"#?\d+", "N", text)
    return _clip(text, 120)


async def run_chaos(
    plan: ChaosPlan, folder: Path, *, say: Callable[[str], None] | None = None
) -> ChaosReport:
    """One chaos run in ``folder`` (which it fills with the database, media and logs)."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    return await ChaosRun(plan, folder, say=say).run()


def report_json(report: ChaosReport) -> str:
    """The verdicts as JSON (for a machine to compare runs)."""
    return json.dumps(
        {
            "plan": dataclasses.asdict(report.plan),
            "lost": report.lost,
            "doubled": report.doubled,
            "ledger_mismatches": report.ledger_mismatches,
            "outcomes": Counter(v.outcome for v in report.verdicts),
            "seconds": report.seconds,
        },
        indent=2,
    )
