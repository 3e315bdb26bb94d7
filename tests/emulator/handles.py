"""What a test holds after playing a user: the interaction and what the bot did with it.

Why this module exists: ``await itx.response()`` (the accepted first answer),
``await itx.followups(n)``, ``itx.original()`` read the server-side record, so a test sees
exactly what Discord would show the user, edits and refusals included.
"""

# Waiting helpers take a ``timeout`` in seconds, as the tests call them.
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.emulator.interaction_state import MODAL, Callback, InteractionRecord
from tests.emulator.messages import StoredMessage
from tests.emulator.state import EmulatorState


class InteractionHandle:
    def __init__(self, state: EmulatorState, record: InteractionRecord) -> None:
        self._state = state
        self.record = record

    def __repr__(self) -> str:
        return (
            f"<InteractionHandle {self.id} type={self.type} "
            f"response={self.record.response and self.record.response.type} "
            f"attempts={[(a.type, a.status, a.error_code) for a in self.attempts]}>"
        )

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def token(self) -> str:
        return self.record.token

    @property
    def type(self) -> int:
        return self.record.type

    @property
    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE ``d`` the bot received."""
        return self.record.payload

    @property
    def attempts(self) -> list[Callback]:
        """Every callback the bot posted, refused ones (10062, 40060…) included."""
        return list(self.record.attempts)

    @property
    def refused(self) -> list[Callback]:
        return [a for a in self.record.attempts if not a.accepted]

    async def response(self, timeout: float = 5.0) -> Callback:
        """The first accepted response (``type``, ``data``, ``latency``)."""
        record = self.record

        def check() -> Callback | None:
            return record.response

        try:
            return await self._state.notifier.wait_for(check, timeout, "an interaction response")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; {self!r}") from None

    async def wait_attempts(self, count: int = 1, timeout: float = 5.0) -> list[Callback]:
        """Wait until the bot has posted ``count`` callbacks, accepted or refused."""
        record = self.record
        return await self._state.notifier.wait_for(
            lambda: list(record.attempts) if len(record.attempts) >= count else None,
            timeout,
            f"{count} callback attempt(s)",
        )

    async def followups(self, count: int = 1, timeout: float = 5.0) -> list[StoredMessage]:
        """The messages sent through the interaction webhook, in order, current state. The
        first followup after a thinking defer is the (edited) loading message."""
        record = self.record
        messages = self._state.messages

        def check() -> list[StoredMessage] | None:
            if len(record.followup_ids) < count:
                return None
            return [m for m in (messages.get(i) for i in record.followup_ids) if m is not None]

        return await self._state.notifier.wait_for(check, timeout, f"{count} followup(s)")

    def original(self) -> StoredMessage | None:
        """``@original`` now: the response message after every edit (None before any)."""
        if self.record.original_id is None:
            return None
        return self._state.messages.get(self.record.original_id)

    async def wait_original(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 5.0
    ) -> StoredMessage:
        """Wait for ``@original`` to satisfy ``predicate`` (default: no longer loading)."""
        test = predicate or (lambda m: not m.loading)

        def check() -> StoredMessage | None:
            message = self.original()
            return message if message is not None and test(message) else None

        return await self._state.notifier.wait_for(check, timeout, "@original to match")

    def messages(self) -> list[StoredMessage]:
        ids = ([self.record.original_id] if self.record.original_id else []) + [
            i for i in self.record.followup_ids if i != self.record.original_id
        ]
        found = (self._state.messages.get(i) for i in ids)
        return [m for m in found if m is not None]

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened (``custom_id``, ``title``, ``components``), if any."""
        response = self.record.response
        return response.data if response is not None and response.type == MODAL else None

    @property
    def answered_at(self) -> float | None:
        return self.record.response.at if self.record.response else None
