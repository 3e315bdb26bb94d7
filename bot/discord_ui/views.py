"""The component rows under the bot's messages, built from the custom-id scheme.

Why this module exists: a button's ``custom_id`` is a promise kept across restarts (results stay
in channels for days), so its scheme (``wan:<action>:<job>[:<index>]``) and the look of each
button are written once, here, and both the messages and the handlers
(:mod:`bot.discord_ui.buttons`, which match these ids) read them. A leaf module: it imports
nothing else of the bot's Discord side, so anything may import it.

What it must never do: change the shape of an id that has shipped (old messages would stop
working), or put anything but a job id and an index in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import discord

from bot.i18n import N_, _
from bot.jobs.records import Job
from bot.jobs.states import GENERATING_STATES, WAITING_STATES

MAX_ANIMATE_BUTTONS = 4
MAX_LINK_BUTTONS = 5


class Action(StrEnum):
    CANCEL = "cancel"
    RETRY = "retry"
    VARY = "vary"
    DELETE = "delete"
    ANIMATE = "animate"
    APPROVE = "approve"
    DENY = "deny"
    EXTEND = "extend"


def custom_id(action: Action, job_id: int, index: int | None = None) -> str:
    """``wan:<action>:<job>``, or ``wan:animate:<job>:<index>`` for one image of a result."""
    base = f"wan:{action.value}:{job_id}"
    return base if index is None else f"{base}:{index}"


def template(action: Action) -> str:
    """The regex a :class:`discord.ui.DynamicItem` matches for ``action``."""
    if action is Action.ANIMATE:
        return rf"wan:{action.value}:(?P<job>\d+):(?P<index>\d)"
    return rf"wan:{action.value}:(?P<job>\d+)"


@dataclass(frozen=True, slots=True)
class Look:
    label: str
    style: discord.ButtonStyle = discord.ButtonStyle.secondary
    emoji: str | None = None


LOOKS: dict[Action, Look] = {
    Action.CANCEL: Look(N_("Cancel"), discord.ButtonStyle.danger),
    Action.RETRY: Look(N_("Retry"), emoji="🔁"),
    Action.VARY: Look(N_("Vary"), emoji="🎲"),
    Action.DELETE: Look(N_("Delete"), emoji="🗑️"),
    Action.ANIMATE: Look(N_("Animate"), discord.ButtonStyle.primary, emoji="🎬"),
    Action.APPROVE: Look(N_("Approve"), discord.ButtonStyle.success, emoji="✅"),
    Action.DENY: Look(N_("Deny"), discord.ButtonStyle.danger, emoji="✖️"),
    Action.EXTEND: Look(N_("Extend"), discord.ButtonStyle.primary, emoji="⏩"),
}


def button(
    action: Action, job_id: int, *, index: int | None = None, row: int | None = None
) -> discord.ui.Button[Any]:
    """The button for ``action`` on job ``job_id`` (``index``: which image, for Animate), its
    label in the current language (the id never changes with it)."""
    look = LOOKS[action]
    label = _(look.label) if index is None else f"{_(look.label)} {index + 1}"
    return discord.ui.Button(
        label=label,
        style=look.style,
        emoji=look.emoji,
        row=row,
        custom_id=custom_id(action, job_id, index),
    )


def _view(*items: discord.ui.Item[Any]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


def status_view(job: Job) -> discord.ui.View | None:
    """Cancel while the job can still be cancelled (waiting: for free); nothing once it
    ended."""
    if job.state not in GENERATING_STATES | WAITING_STATES:
        return None
    return _view(button(Action.CANCEL, job.id))


def approval_view(job: Job) -> discord.ui.View:
    """Approve / Deny under a request for approval (staff only: checked on click)."""
    return _view(button(Action.APPROVE, job.id), button(Action.DENY, job.id))


def result_view(job: Job, image_count: int, *, links: tuple[str, ...] = ()) -> discord.ui.View:
    """Retry, Vary, Delete; Animate per image of an image result, Extend on a video result;
    download links if given."""
    items: list[discord.ui.Item[Any]] = [
        button(Action.RETRY, job.id, row=0),
        button(Action.VARY, job.id, row=0),
        button(Action.DELETE, job.id, row=0),
    ]
    if job.unit == "image":
        items += [
            button(Action.ANIMATE, job.id, index=index, row=1)
            for index in range(min(image_count, MAX_ANIMATE_BUTTONS))
        ]
    elif job.unit == "second":
        items.append(button(Action.EXTEND, job.id, row=1))
    items += [
        discord.ui.Button(label=_("Download {number}").format(number=index + 1), url=url, row=2)
        for index, url in enumerate(links[:MAX_LINK_BUTTONS])
    ]
    return _view(*items)


def notice_view(job: Job) -> discord.ui.View:
    return _view(button(Action.RETRY, job.id))
