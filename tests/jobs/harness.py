"""A real job-engine process for crash tests: start it, kill it, start it again.

Run from the repository root (so ``tests`` is importable)::

    python -m tests.jobs.harness --base-url URL --folder DIR --speed S \
        [--submit N --model wan2.2-t2v-plus] [--crash-at PHASE] [--until-idle | --serve]

It builds the real engine with :func:`tests.jobs.support.build_engine` on ``DIR`` (the same
SQLite file and posts file across runs), starts it (which resumes whatever an earlier run left
in flight), optionally submits ``N`` jobs, then:

* ``--until-idle``: exits 0 once every job in the database is final and every outbox row is
  delivered, printing one JSON line ``{"event": "idle", ...}``;
* ``--serve``: prints ``{"event": "ready", ...}`` and serves until SIGTERM (as ``docker stop``
  sends), then stops the engine, closes the store and exits 0 (``{"event": "stopped", ...}``);
* ``--crash-at PHASE``: SIGKILLs itself at that phase (printing ``{"event": "crash", ...}``
  first). If the phase is never reached, it exits 3 once idle.

The crash points are made here only, by wrapping the real objects of the engine; nothing in
``bot/`` knows about them:

``created``       the jobs are persisted; the first ``claim_submission`` kills (none claimed)
``claimed``       ``submitting`` is persisted; the client's ``submit`` kills before sending
``after_submit``  the provider accepted the create; killed before the task id is returned
``polling``       killed right after a poll answer arrived, once every job was polled
                  ``--crash-polls`` times (or a poll saw a finished task)
``succeeded``     a poll found the result and ``succeeded`` was persisted (the result queued
                  in the outbox); killed before it is delivered
``after_post``    the deliverer wrote the post; killed before the outbox recorded it
``after_notice``  the same for a notice (a job that ended without a result)

Every hook first waits until all ``--submit`` jobs are persisted, so a crash never leaves a job
half-submitted by the harness itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import aiohttp

from bot.catalog import ModelSpec, WanRequest, spec_for
from bot.config import ProviderName
from bot.jobs.budget import Limits
from bot.jobs.engine import EngineStopping
from bot.jobs.records import Job
from bot.providers import PollResult
from tests.jobs.support import EngineParts, build_engine
from tests.waiting import wait_until

PHASES = (
    "created",
    "claimed",
    "after_submit",
    "polling",
    "succeeded",
    "after_post",
    "after_notice",
)
EXIT_CRASH_NOT_REACHED = 3
NO_LIMITS = Limits(max_concurrent_per_user=None)

log = logging.getLogger("harness")


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed at once (the process may be killed right after)."""
    print(json.dumps({"event": event, **fields}), flush=True)


def die(phase: str, **fields: Any) -> NoReturn:
    emit("crash", phase=phase, **fields)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: SIGKILL is not deliverable to a running process?")


def install_crash(
    parts: EngineParts, phase: str, submitted: asyncio.Event, expected: int, polls_per_job: int
) -> None:
    """Wrap the real store, client and deliverer so the process dies at ``phase``."""
    store = parts.store
    client = parts.providers.get(ProviderName.MULEROUTER)
    deliverer = parts.deliverer

    if phase == "created":
        real_claim = store.claim_submission

        async def claim_submission(job_id: int, now: float) -> bool:
            await submitted.wait()
            die(phase, job_id=job_id)
            return await real_claim(job_id, now)  # pragma: no cover

        store.claim_submission = claim_submission  # type: ignore[method-assign]

    elif phase in ("claimed", "after_submit"):
        real_submit = client.submit

        async def submit(spec: ModelSpec, request: WanRequest) -> str:
            await submitted.wait()
            if phase == "claimed":
                die(phase)
            task_id = await real_submit(spec, request)
            die(phase, task_id=task_id)
            return task_id  # pragma: no cover

        client.submit = submit  # type: ignore[method-assign]

    elif phase == "polling":
        real_poll = client.poll
        counts: Counter[str] = Counter()

        async def poll(spec: ModelSpec, task_id: str) -> PollResult:
            result = await real_poll(spec, task_id)
            counts[task_id] += 1
            everyone = submitted.is_set() and len(counts) >= expected
            if everyone and (min(counts.values()) >= polls_per_job or result.state.finished):
                die(phase, polls=sum(counts.values()), tasks=len(counts))
            return result

        client.poll = poll  # type: ignore[method-assign]

    elif phase == "succeeded":
        real_succeeded = store.mark_succeeded

        async def mark_succeeded(
            job_id: int, urls: Sequence[str], billed: Decimal | None, now: float, **kwargs: Any
        ) -> bool:
            await submitted.wait()
            moved = await real_succeeded(job_id, urls, billed, now, **kwargs)
            if moved:
                die(phase, job_id=job_id)
            return moved

        store.mark_succeeded = mark_succeeded  # type: ignore[method-assign]

    elif phase == "after_post":
        real_deliver = deliverer.deliver_result

        async def deliver_result(job: Job, files: Sequence[Path]) -> list[int]:
            await submitted.wait()
            message_ids = await real_deliver(job, files)
            die(phase, job_id=job.id, message_ids=message_ids)
            return message_ids  # pragma: no cover

        deliverer.deliver_result = deliver_result  # type: ignore[method-assign]

    elif phase == "after_notice":
        real_notice = deliverer.deliver_notice

        async def deliver_notice(job: Job) -> list[int]:
            await submitted.wait()
            message_ids = await real_notice(job)
            die(phase, job_id=job.id, message_ids=message_ids)
            return message_ids  # pragma: no cover

        deliverer.deliver_notice = deliver_notice  # type: ignore[method-assign]

    else:
        raise ValueError(f"unknown crash phase {phase!r}; choose one of {', '.join(PHASES)}")


async def is_idle(parts: EngineParts) -> bool:
    """Every job final and every outbox row delivered."""
    return not await parts.store.active_jobs() and await parts.store.next_outbox_time() is None


async def summary(parts: EngineParts) -> dict[str, Any]:
    jobs = await parts.store.jobs_for_user(1, None, limit=1_000_000)
    states = Counter(job.state.value for job in jobs)
    return {"jobs": len(jobs), "states": dict(states), "posts": len(parts.deliverer.posts())}


async def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    overrides: dict[str, Any] = {}
    if args.rps is not None:
        overrides["requests_per_second"] = args.rps
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        parts = await build_engine(args.base_url, folder, session, speed=args.speed, **overrides)
        try:
            return await _drive(parts, args)
        finally:
            await parts.store.close()


async def _drive(parts: EngineParts, args: argparse.Namespace) -> int:
    engine = parts.engine
    submitted = asyncio.Event()
    if args.crash_at:
        install_crash(parts, args.crash_at, submitted, args.submit, args.crash_polls)
    loop = asyncio.get_running_loop()
    sigterm = asyncio.Event()
    if args.serve:
        loop.add_signal_handler(signal.SIGTERM, sigterm.set)
    await engine.start()
    spec = spec_for(args.model, ProviderName.MULEROUTER)
    for number in range(args.submit):
        request = spec.parse({"prompt": f"crash safety job {number}"})
        await engine.submit(
            user_id=1, guild_id=None, channel_id=None, spec=spec, request=request, limits=NO_LIMITS
        )
    submitted.set()

    if args.serve:
        emit("ready", submitted=args.submit, pid=os.getpid())
        await sigterm.wait()
        began = time.monotonic()
        stopping = asyncio.create_task(engine.stop())
        await asyncio.sleep(0)  # stop() has begun: the engine takes no new jobs
        refused = False
        try:
            await engine.submit(
                user_id=1,
                guild_id=None,
                channel_id=None,
                spec=spec,
                request=spec.parse({"prompt": "too late"}),
                limits=NO_LIMITS,
            )
        except EngineStopping:
            refused = True
        await stopping
        emit(
            "stopped",
            seconds=round(time.monotonic() - began, 3),
            refused_new_job=refused,
            **await summary(parts),
        )
        return 0

    # The engine has no "idle" event: look at the database. No timeout here: the test that
    # runs this process gives up after its own limit.
    await wait_until(
        lambda: is_idle(parts), timeout=math.inf, interval=0.05, message="the engine to be idle"
    )
    await engine.stop()
    if args.crash_at:
        emit("crash_not_reached", phase=args.crash_at, **await summary(parts))
        return EXIT_CRASH_NOT_REACHED
    emit("idle", **await summary(parts))
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.jobs.harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base-url", required=True, help="the simulator's base URL")
    parser.add_argument("--folder", required=True, help="database, posts and media folder")
    parser.add_argument(
        "--speed",
        type=float,
        required=True,
        help="the simulator's speed (scales the engine's poll plan)",
    )
    parser.add_argument("--submit", type=int, default=0, metavar="N", help="jobs to submit")
    parser.add_argument("--model", default="wan2.2-t2v-plus", help="MuleRouter model id")
    parser.add_argument("--crash-at", choices=PHASES, help="SIGKILL this process at a phase")
    parser.add_argument(
        "--crash-polls",
        type=int,
        default=2,
        metavar="K",
        help="polling: die once every job was polled K times (default 2)",
    )
    parser.add_argument(
        "--rps", type=float, help="provider requests per second (default: the engine's)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--until-idle",
        action="store_true",
        help="exit 0 when every job is final and every post delivered",
    )
    mode.add_argument("--serve", action="store_true", help="run until SIGTERM")
    args = parser.parse_args(argv)
    if args.crash_at and args.serve:
        parser.error("--crash-at runs until the crash; it cannot be combined with --serve")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
