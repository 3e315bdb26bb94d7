"""One bot process's share of the budget race: a separate OS process on the shared database.

``python -m tests.jobs.budget_race_worker URL SCHEMA VARIANT FIRST COUNT`` opens a store on
PostgreSQL (a pool of its own, warmed so every submission has a connection), prints ``ready``,
waits for a line on stdin (the parent releases every worker at once), submits ``COUNT``
jobs of :data:`tests.jobs.test_store.ROOM_FOR_FIVE` ``[VARIANT]`` (numbered from ``FIRST``) all
at once, and prints one line per outcome: ``accepted <job id>`` or ``refused <reason>``.
"""

from __future__ import annotations

import asyncio
import sys

from bot.jobs.budget import ReservationRefused
from bot.jobs.records import Job
from bot.jobs.store import PostgresStore
from tests.jobs.test_store import NOW, OPEN, ROOM_FOR_FIVE


async def main(url: str, schema: str, variant: str, first: int, count: int) -> None:
    _, make, _ = ROOM_FOR_FIVE[variant]
    store = await PostgresStore.open(url, schema=schema, min_size=count, max_size=count)
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        outcomes = await asyncio.gather(
            *(store.create_job(make(first + i), OPEN, NOW) for i in range(count)),
            return_exceptions=True,
        )
    finally:
        await store.close()
    for outcome in outcomes:
        if isinstance(outcome, Job):
            print(f"accepted {outcome.id}")
        elif isinstance(outcome, ReservationRefused):
            print(f"refused {outcome.reason}")
        else:
            print(f"error {type(outcome).__name__}: {outcome}")


if __name__ == "__main__":
    url, schema, variant, first, count = sys.argv[1:]
    asyncio.run(main(url, schema, variant, int(first), int(count)))
