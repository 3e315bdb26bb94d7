"""The budget race across real OS processes (issue #14): fifty members' submissions, spread over
five bot processes on one PostgreSQL database, against a server or member with room for five.

Each process is a separate Python interpreter with its own connection pool
(:mod:`tests.jobs.budget_race_worker`); all are released at once, so the reservations meet in
the database and nowhere else. Exactly five are accepted, whatever the interleaving, and the
ledger holds exactly their five reservations. PostgreSQL only (skipped without
``WANBOT_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from bot.jobs.store import SQLStore as Store
from tests.jobs.conftest import Backend
from tests.jobs.test_store import GUILD, NOW, ROOM_FOR_FIVE, scalar, set_guild_limits

pytestmark = pytest.mark.timeout(90)
ROOT = str(Path(__file__).resolve().parents[2])
PROCESSES = 5
EACH = 10


@pytest.mark.parametrize("variant", list(ROOM_FOR_FIVE))
async def test_fifty_submissions_over_five_processes_take_exactly_five(
    postgres_backend: Backend, variant: str
) -> None:
    limits, _, reason = ROOM_FOR_FIVE[variant]
    store: Store = await postgres_backend.open()  # migrates the schema, sets the limits
    await set_guild_limits(store, GUILD, limits, NOW)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.jobs.budget_race_worker",
            str(postgres_backend.url),
            str(postgres_backend.schema),
            variant,
            str(k * EACH),
            str(EACH),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for k in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert await worker.stdout.readline() == b"ready\n"
        for worker in workers:  # all at once: every pool is warm and waiting on stdin
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        answers = await asyncio.gather(*(worker.communicate() for worker in workers))
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    kinds: Counter[str] = Counter()  # accepted / refused / error
    refusals: Counter[str] = Counter()  # by reason
    accepted_by: list[int] = []
    for k, (out, err) in enumerate(answers):
        assert workers[k].returncode == 0, err.decode()
        lines = out.decode().splitlines()
        assert len(lines) == EACH, lines
        kinds.update(entry.split(" ", 1)[0] for entry in lines)
        refusals.update(entry.split(" ", 1)[1] for entry in lines if entry.startswith("refused"))
        accepted_by += [k for entry in lines if entry.startswith("accepted")]
    assert kinds == Counter(accepted=5, refused=45), (kinds, answers)
    assert refusals == Counter({reason: 45})  # one reason: the limit that is full
    assert await scalar(store, "SELECT COUNT(*) FROM jobs") == 5
    assert await scalar(store, "SELECT COUNT(*) FROM ledger") == 5
    assert await store.ledger_total(guild_id=GUILD) == Decimal("2.50")
    print(f"{variant}: accepted by processes {sorted(accepted_by)}")
