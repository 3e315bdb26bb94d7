"""The log context: set for a block or a task, undone after it, never crossing to another task's
work, and on every record whatever the caller passed in ``extra``."""

from __future__ import annotations

import asyncio
import logging

from bot.log_context import (
    CONTEXT_FIELDS,
    AddLogContext,
    add_log_context,
    current_log_context,
    detached,
    log_context,
)


def stamped(**extra: object) -> logging.LogRecord:
    """A record as it leaves the filter, logged here with ``extra``."""
    record = logging.getLogger("test").makeRecord(
        "test", logging.INFO, __file__, 1, "hello", (), None, extra=extra or None
    )
    assert AddLogContext().filter(record)
    return record


def test_nothing_is_known_outside_any_context() -> None:
    assert current_log_context() == {}
    record = stamped()
    assert [getattr(record, name) for name in CONTEXT_FIELDS] == [None, None, None]


def test_a_block_sets_its_fields_and_undoes_them_and_what_was_added_inside() -> None:
    with log_context(job_id=7, model="wan2.6-i2v"):
        assert current_log_context() == {"job_id": 7, "model": "wan2.6-i2v"}
        add_log_context(guild_id=42)
        record = stamped()
        assert (record.job_id, record.guild_id, record.model) == (7, 42, "wan2.6-i2v")
    assert current_log_context() == {}


def test_a_block_for_another_job_inherits_nothing_of_the_first() -> None:
    with log_context(job_id=1, guild_id=10, model="wan2.2-t2v-plus"):
        with log_context(job_id=2):
            assert current_log_context() == {"job_id": 2}
        assert current_log_context() == {"job_id": 1, "guild_id": 10, "model": "wan2.2-t2v-plus"}


def test_add_leaves_the_fields_not_given_as_they_were() -> None:
    with log_context(job_id=3, guild_id=30):
        add_log_context(model="wan2.5-i2i-preview")
        add_log_context()
        assert current_log_context() == {"job_id": 3, "guild_id": 30, "model": "wan2.5-i2i-preview"}


def test_extra_cannot_fill_the_fields() -> None:
    record = stamped(job_id=99, guild_id=98, model="sk-mule-0123456789abcdef")
    assert (record.job_id, record.guild_id, record.model) == (None, None, None)
    with log_context(job_id=5):
        record = stamped(job_id=99, model="sk-mule-0123456789abcdef")
    assert (record.job_id, record.model) == (5, None)


async def test_tasks_carry_the_context_they_started_in_and_never_another_s() -> None:
    seen: dict[str, dict[str, int | str]] = {}

    async def work(name: str, job_id: int) -> None:
        with log_context(job_id=job_id):
            await asyncio.sleep(0)
            add_log_context(guild_id=job_id * 10)
            await asyncio.sleep(0)
            seen[name] = current_log_context()

    async def whole_task(guild_id: int) -> None:
        add_log_context(guild_id=guild_id, model="wan2.2-i2v-flash")  # a handler's own task
        await asyncio.sleep(0)
        seen[f"task {guild_id}"] = current_log_context()

    await asyncio.gather(work("a", 1), work("b", 2), whole_task(5), whole_task(6))
    assert seen == {
        "a": {"job_id": 1, "guild_id": 10},
        "b": {"job_id": 2, "guild_id": 20},
        "task 5": {"guild_id": 5, "model": "wan2.2-i2v-flash"},
        "task 6": {"guild_id": 6, "model": "wan2.2-i2v-flash"},
    }
    assert current_log_context() == {}  # a task's own additions stay in it


async def test_a_detached_task_started_inside_a_job_carries_none_of_it() -> None:
    async def look() -> dict[str, int | str]:
        return current_log_context()

    with log_context(job_id=8, guild_id=80, model="wan2.6-i2v"):
        inherited = await asyncio.get_running_loop().create_task(look())
        clean = await asyncio.get_running_loop().create_task(look(), context=detached())
        assert current_log_context() == {"job_id": 8, "guild_id": 80, "model": "wan2.6-i2v"}
    assert inherited == {"job_id": 8, "guild_id": 80, "model": "wan2.6-i2v"}
    assert clean == {}
