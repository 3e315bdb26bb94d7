"""What Discord remembers about one interaction: token, deadline, responses, its messages.

Why this module exists: the 3 s deadline, double acknowledgement, the 15-minute token and
"the first followup after a thinking defer edits the loading message" are all decided from
this record; the test-facing handle reads the same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.emulator.models import User
from tests.emulator.recorder import UploadedFile

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5

PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9


@dataclass
class Callback:
    """One ``POST /interactions/{id}/{token}/callback``: accepted or refused."""

    type: int | None
    data: dict[str, Any] | None
    at: float
    latency: float  # seconds since the interaction was dispatched
    status: int
    error_code: int | None = None
    files: list[UploadedFile] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    payload: dict[str, Any]
    user: User
    channel_id: int
    guild_id: int | None
    created_at: float
    message_id: int | None = None  # the clicked message (components, modals from them)
    attempts: list[Callback] = field(default_factory=list)
    response: Callback | None = None
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    defer_pending: bool = False  # a thinking defer whose loading message awaits a followup
    delivered: bool = True

    @property
    def acknowledged(self) -> bool:
        return self.response is not None

    @property
    def data(self) -> dict[str, Any]:
        return self.payload.get("data") or {}
