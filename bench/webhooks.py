"""Benchmark: polls per job and detection delay with MuleRouter webhooks on, dropped, and off.

Run it from the repository root (it is a script, not a test)::

    .venv/bin/python bench/webhooks.py                 # 100 jobs of about 60 s per scenario
    .venv/bin/python bench/webhooks.py --jobs 20 --speed 10   # a quick check of the script

Three scenarios run side by side, each with its own simulator process (``python -m bot
simulator`` on 127.0.0.1) and its own real engine on a temporary SQLite file, with the
production poll settings (time scaled by 1/``--speed``) and no history (the prior plan):

* ``webhooks on``: the simulator sends signed events to the real receiver
  (:mod:`bot.webhooks.mulerouter`) on the real HTTP server (:mod:`bot.http_server`);
* ``webhooks dropped 100 %``: the same, with every event dropped by the simulator;
* ``plain polling``: webhooks off.

Per job, from the simulator's task list: status polls received, and the detection delay: the
first moment the bot knew (a poll that saw it finished, or a finished-event answered 2xx)
minus the moment the task finished, in simulated seconds (at ``--speed`` above 1 the loopback
latency of a webhook is magnified by the speed too). Figures are from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from pydantic import SecretStr
from simulator_process import Simulator, start_simulator

from bot.catalog import CATALOG, spec_for
from bot.config import ProviderName, load_settings
from bot.http_server import HttpServer
from bot.jobs.budget import Limits
from bot.jobs.build import build_engine
from bot.jobs.delivery import DeliveryKind
from bot.jobs.engine import JobEngine
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.pricing import PriceTable
from bot.webhooks.mulerouter import PATH, MuleRouterWebhooks
from bot.webhooks.signatures import SignatureVerifier

MODEL = "wan2.2-t2v-plus"
SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
TARGET_POLLS = 1.0
TARGET_DETECTION_P95 = 1.0


class QuietDeliverer:
    """Posts nothing; counts what would have been posted."""

    def __init__(self) -> None:
        self.posted: set[int] = set()

    async def find_delivered(
        self, job: Job, kind: DeliveryKind, *, since: float
    ) -> list[int] | None:
        return None

    async def deliver_result(self, job: Job, files: Sequence[Path]) -> list[int]:
        self.posted.add(job.id)
        return [job.id]

    async def deliver_notice(self, job: Job) -> list[int]:
        self.posted.add(job.id)
        return [job.id]

    async def job_changed(self, job: Job) -> None:
        return None

    async def alert(self, job: Job, text: str) -> None:
        return None


@dataclass
class Figures:
    name: str
    jobs: int
    polls: list[int]
    delays: list[float]
    pushed: int
    wall: float


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


async def scenario(
    name: str, sim: Simulator, args: argparse.Namespace, *, webhooks: bool, drop: float
) -> Figures:
    folder = sim.log_path.parent
    server: HttpServer | None = None
    engine: JobEngine | None = None
    session = aiohttp.ClientSession()
    s = args.speed
    try:
        await sim.configure(
            {"durations": {MODEL: args.seconds}, "duration_jitter": 0.2, "pending_share": 0.1}
        )
        settings = load_settings(
            mulerouter_base_url=sim.base_url,
            mulerouter_api_key=sim.keys["mulerouter"],
            database_path=folder / "wanbot.sqlite3",
            media_dir=folder / "media",
            poll_interval_min=4.0 / s,
            poll_interval_max=120.0 / s,
            poll_target_delay=5.0 / s,
            video_deadline=30 * 60.0 / s,
            _env_file=None,
        )
        deliverer = QuietDeliverer()
        engine = await build_engine(
            settings,
            session,
            deliverer,
            prices=PriceTable(),
            poll_first_look=10.0 / s,
            history_refresh_seconds=10.0 / s,
            default_limits=Limits(max_concurrent_per_user=None),
            expected_seconds={spec.model_id: spec.expected_seconds / s for spec in CATALOG},
            webhook_providers=frozenset({ProviderName.MULEROUTER}) if webhooks else frozenset(),
        )
        if webhooks:
            verifier = SignatureVerifier(SecretStr(SECRET), setting="MULEROUTER_WEBHOOK_SECRET")
            server = HttpServer("127.0.0.1", 0)
            server.add_routes(MuleRouterWebhooks(verifier, engine, engine.store).routes())
            await server.start()
        await engine.start()
        if server is not None:
            await sim.configure(
                {
                    "webhook_url": server.url + PATH,
                    "webhook_secret": SECRET,
                    "webhook_drop_rate": drop,
                }
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        spec = spec_for(MODEL, ProviderName.MULEROUTER)
        ids = []
        for index in range(args.jobs):
            request = spec.parse({"prompt": f"bench {index}", "size": "832*480"})
            job = await engine.submit(
                user_id=1 + index % 50, guild_id=1, channel_id=1, spec=spec, request=request
            )
            ids.append(job.id)
        while len(deliverer.posted) < len(ids):
            if loop.time() - started > args.timeout:
                raise TimeoutError(f"{name}: {len(deliverer.posted)} of {len(ids)} done")
            await asyncio.sleep(0.5)
        wall = loop.time() - started
        finals = [await engine.store.get_job(job_id) for job_id in ids]
        assert all(job is not None and job.state is JobState.DELIVERED for job in finals)
        tasks = [
            t for t in (await sim.get("/_sim/tasks"))["tasks"] if t["provider"] == "mulerouter"
        ]
        polls, delays, pushed = [], [], 0
        for task in tasks:
            polls.append(task["polls"])
            seen = [
                at
                for at in (task["seen_finished_at_monotonic"], task["pushed_at_monotonic"])
                if at is not None
            ]
            if task["pushed_at_monotonic"] is not None and (
                task["seen_finished_at_monotonic"] is None
                or task["pushed_at_monotonic"] <= task["seen_finished_at_monotonic"]
            ):
                pushed += 1
            if seen:
                delays.append((min(seen) - task["finishes_at_monotonic"]) * s)
        return Figures(name, len(ids), polls, delays, pushed, wall)
    finally:
        if server is not None:
            await server.stop()
        if engine is not None:
            await engine.stop(2.0)
            await engine.store.close()
        await session.close()


def report(figures: Sequence[Figures]) -> None:
    print(
        "scenario                 jobs  polls/job (mean, p95)  detection s (p50, p95, max)"
        "  pushed first  wall s"
    )
    for f in figures:
        mean = sum(f.polls) / len(f.polls)
        print(
            f"{f.name:<24} {f.jobs:>4}  {mean:>9.2f} {pct(f.polls, 95):>5.0f}"
            f"            {pct(f.delays, 50):>5.2f} {pct(f.delays, 95):>5.2f} "
            f"{max(f.delays):>6.2f}   {f.pushed:>5}/{f.jobs:<5}  {f.wall:>6.1f}"
        )
    on = figures[0]
    mean = sum(on.polls) / len(on.polls)
    print(
        f"webhooks on: polls/job {mean:.2f} (goal < {TARGET_POLLS:g}: "
        f"{'met' if mean < TARGET_POLLS else 'NOT MET'}), detection p95 "
        f"{pct(on.delays, 95):.2f} s (goal < {TARGET_DETECTION_P95:g} s: "
        f"{'met' if pct(on.delays, 95) < TARGET_DETECTION_P95 else 'NOT MET'})"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100, help="jobs per scenario")
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated seconds a job")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per scenario")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="wanbot-bench-webhooks-"))
    sims: list[Simulator] = []
    try:
        for name in ("on", "dropped", "plain"):
            (folder / name).mkdir()
            sims.append(start_simulator(folder / name, speed=args.speed, seed=args.seed))
        on, dropped, plain = sims
        figures = await asyncio.gather(
            scenario("webhooks on", on, args, webhooks=True, drop=0.0),
            scenario("webhooks dropped 100 %", dropped, args, webhooks=True, drop=1.0),
            scenario("plain polling", plain, args, webhooks=False, drop=0.0),
        )
    finally:
        for sim in sims:
            sim.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{args.jobs} jobs of {args.seconds:g} s ±20 % ({MODEL}) per scenario, speed "
        f"{args.speed:g}, production poll settings, no history"
    )
    report(figures)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("bot.jobs.engine").setLevel(logging.ERROR)  # "accepted" lines per job
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
