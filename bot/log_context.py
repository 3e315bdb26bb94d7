"""Which job, server and model a log line is about: context variables, and the filter that puts
them on every record.

Why this module exists: with many jobs in flight, one job's lines are interleaved with every
other's; a JSON line (``WANBOT_LOG_FORMAT=json``, :mod:`bot.logging_setup`) that carries
``job_id``, ``guild_id`` and ``model`` can be followed in any log tool. The values live in
:mod:`contextvars`, so they follow the work through every ``await`` and into the tasks it
starts (a task copies the context it is created in), without being passed down to each call.

Where they are set: :func:`log_context` around one piece of work for one job (the engine's
scheduled submit or poll, the outbox's delivery of one item), :func:`add_log_context` for what
is learnt inside it (the job once it is read), or at the top of a task about one generation
(a slash command's handler, which runs in a task of its own).

What it must never do: carry anything but ids the bot's own code sets (a job id, a server id, a
catalog model id), never a member's text; or let a record's ``extra`` fill these fields: the
filter overwrites them on every record, so ``extra={"model": ...}`` cannot reach the output.
A task that outlives the work it was started from must be created with :func:`detached`.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

# The record attributes :class:`AddLogContext` sets, in output order.
CONTEXT_FIELDS = ("job_id", "guild_id", "model")

_job_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("log_job_id", default=None)
_guild_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("log_guild_id", default=None)
_model: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_model", default=None)


@contextmanager
def log_context(
    *, job_id: int | None = None, guild_id: int | None = None, model: str | None = None
) -> Iterator[None]:
    """Lines logged inside the block are about this job, server and model; a field not given is
    unknown inside (not inherited: it could belong to another job). Everything set inside,
    :func:`add_log_context` included, is undone on exit."""
    tokens = (_job_id.set(job_id), _guild_id.set(guild_id), _model.set(model))
    try:
        yield
    finally:
        _model.reset(tokens[2])
        _guild_id.reset(tokens[1])
        _job_id.reset(tokens[0])


def add_log_context(
    *, job_id: int | None = None, guild_id: int | None = None, model: str | None = None
) -> None:
    """Set the fields given (not ``None``) for the rest of the current context: inside a
    :func:`log_context` block until it ends, else until the current task ends."""
    if job_id is not None:
        _job_id.set(job_id)
    if guild_id is not None:
        _guild_id.set(guild_id)
    if model is not None:
        _model.set(model)


def current_log_context() -> dict[str, int | str]:
    """The fields known here, by name (the unknown ones left out)."""
    values: dict[str, int | str | None] = {
        "job_id": _job_id.get(),
        "guild_id": _guild_id.get(),
        "model": _model.get(),
    }
    return {name: value for name, value in values.items() if value is not None}


def detached() -> contextvars.Context:
    """A copy of the current context without the log fields: for ``create_task(...,
    context=detached())`` when the task serves more than the work it is started from (a
    channel's writer, say), whose lines must not carry the first job's id."""
    context = contextvars.copy_context()
    context.run(_clear)
    return context


def _clear() -> None:
    _job_id.set(None)
    _guild_id.set(None)
    _model.set(None)


class AddLogContext(logging.Filter):
    """Puts ``job_id``, ``guild_id`` and ``model`` (``None`` when unknown) on every record,
    overwriting any attribute of those names a caller passed in ``extra``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = _job_id.get()
        record.guild_id = _guild_id.get()
        record.model = _model.get()
        return True
