"""A second bot on the same database file exits at once, naming the file and the first one.

Two processes on one SQLite file would each resume the other's jobs: the first one's creates
in flight would become "not confirmed" and both would post the same notice. The first bot must
not notice the second at all.
"""

from __future__ import annotations

import re

from tests.e2e.conftest import World
from tests.emulator import BotProcess


async def test_a_second_bot_on_the_same_database_exits_with_one_line(world: World) -> None:
    requests_before = len(world.discord.requests)
    second = BotProcess(world.discord, env=world.env)
    await second.start()
    assert await second.wait_exit(timeout=30) == 1
    # One line, before Discord is contacted at all (bot.preflight), naming the file and holder.
    output = [line for line in second.lines if not line.startswith("--- start #")]
    assert len(output) == 1, second.tail(40)
    (error,) = output
    assert error.startswith("error: ")
    assert str(world.db_path) in error
    assert f"pid {world.bot.pid}" in error
    assert re.search(r"in use by another wanbot process", error)
    assert world.bot.running
    assert world.discord.requests[requests_before:] == []
