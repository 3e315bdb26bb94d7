"""``WANBOT_LOG_FORMAT=json``, end to end: the unmodified bot process, from its first line to its
last (start-up, discord.py's own connection lines, one generation at DEBUG, a clean shutdown
and a start again), writes nothing but JSON objects, one a line; the lines about the job carry
its id, server and model; and no token or key is in any of them.
"""

from __future__ import annotations

import json
from typing import Any

from bot.simulator import DEFAULT_MULEROUTER_KEY, DEFAULT_VTRIX_KEY
from tests.e2e.conftest import World
from tests.e2e.test_buttons import generate, result_of

BOT_ENV = {"WANBOT_LOG_FORMAT": "json", "WANBOT_LOG_LEVEL": "DEBUG"}
# The marker the test harness (tests/emulator/process.py) puts before each start: not the bot's.
HARNESS_MARKER = "--- start #"


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    """Every line the bot printed (stderr and stdout alike), each parsed as one JSON object."""
    objects = []
    for line in lines:
        if line.startswith(HARNESS_MARKER):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(obj, dict), line
        assert {"time", "level", "logger", "message"} <= set(obj), line
        objects.append(obj)
    return objects


async def test_every_line_is_json_and_the_job_s_lines_say_which_job(world: World) -> None:
    job_id, _ = await generate(world, "alice", "wan-t2v", {"prompt": "a cat surfing at dawn"})
    await result_of(world, job_id)
    job = await world.job(job_id)
    first = world.bot
    await world.restart(kill=False)  # shutdown and start-up lines too
    await world.bot.wait_for_output('"logger": "discord.gateway"', timeout=30)

    lines = first.lines + world.bot.lines
    objects = parsed(lines)
    loggers = {obj["logger"] for obj in objects}
    # Start-up, discord.py's connection lines and its HTTP lines are all among them.
    assert {"discord.client", "discord.gateway", "discord.http"} <= loggers
    assert [obj for obj in objects if obj["level"] in {"ERROR", "CRITICAL"}] == []

    about_the_job = [obj for obj in objects if obj.get("job_id") == job_id]
    assert about_the_job, "no line carries the job's id"
    assert all(obj.get("model") in {None, job.model_id} for obj in about_the_job)
    assert all(obj.get("guild_id") in {None, job.guild_id} for obj in about_the_job)
    complete = [
        obj
        for obj in about_the_job
        if obj.get("guild_id") == job.guild_id and obj.get("model") == job.model_id
    ]
    assert complete, "no line carries the job's id, server and model together"
    # The slash command's own lines know the server and the model before the job exists.
    assert any(
        obj.get("guild_id") == job.guild_id and obj.get("model") == job.model_id
        for obj in objects
        if "job_id" not in obj
    )

    log = "\n".join(lines)
    secrets = {
        "bot token": world.discord.token,
        "MuleRouter key": DEFAULT_MULEROUTER_KEY,
        "Vtrix key": DEFAULT_VTRIX_KEY,
        **{f"interaction token {i}": token for i, token in enumerate(world.discord.state.by_token)},
    }
    assert sorted(name for name, secret in secrets.items() if secret in log) == []
