"""The scheduler's lanes: a create never waits behind polls, one provider never behind another.

Pure asyncio with a recording runner (no provider, no database): what is dispatched when.
"""

from __future__ import annotations

import asyncio

from bot.jobs.scheduler import Action, Scheduler


class Recorder:
    """Runs each action for ``hold`` seconds and records the order they started in."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.started: list[tuple[int, Action]] = []

    async def __call__(self, job_id: int, action: Action) -> None:
        self.started.append((job_id, action))
        await asyncio.sleep(self.hold)


async def test_a_create_goes_before_a_thousand_overdue_polls() -> None:
    runner = Recorder(hold=0.01)
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(runner, slots_per_lane=2, clock=loop.time)
    now = loop.time()
    for job_id in range(1000):
        scheduler.push(now - 60.0 + job_id * 0.001, job_id, Action.POLL, "mulerouter")
    scheduler.push(now, 5000, Action.SUBMIT, "mulerouter")
    scheduler.start()
    try:
        await asyncio.sleep(0.05)
    finally:
        await scheduler.stop(grace=0.1)
    assert (5000, Action.SUBMIT) in runner.started[:3]  # not behind the 1,000 overdue polls


async def test_one_providers_full_slots_do_not_hold_back_another() -> None:
    runner = Recorder(hold=10.0)  # every mulerouter poll hangs
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(runner, slots_per_lane=2, clock=loop.time)
    now = loop.time()
    for job_id in range(10):
        scheduler.push(now, job_id, Action.POLL, "mulerouter")
    scheduler.push(now + 0.01, 99, Action.POLL, "vtrix")
    scheduler.start()
    try:
        await asyncio.sleep(0.1)
    finally:
        await scheduler.stop(grace=0.0)
    polls = [job for job, _ in runner.started]
    assert polls.count(99) == 1  # vtrix's poll ran
    assert len([job for job in polls if job != 99]) == 2  # mulerouter: its two slots only


async def test_stop_wins_over_a_wake_in_the_same_moment() -> None:
    """A push (which wakes the dispatcher) right before stop() must not swallow the stop.

    Python 3.11's ``asyncio.wait_for`` returns normally when the awaited event is set in the
    same loop step as the cancellation, and the dispatcher then waited forever: a bot that
    received SIGTERM while a job was being queued never exited.
    """
    runner = Recorder(hold=0.0)
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(runner, slots_per_lane=2, clock=loop.time)
    scheduler.push(loop.time() + 60.0, 1, Action.POLL, "mulerouter")
    scheduler.start()
    await asyncio.sleep(0.01)  # the dispatcher is idle until its next due job (or a wake)
    scheduler.push(loop.time() + 30.0, 2, Action.POLL, "mulerouter")  # wakes it
    async with asyncio.timeout(2.0):
        await scheduler.stop(grace=0.1)
