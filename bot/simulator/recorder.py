"""A bounded log of the requests the simulator received, for tests to assert on.

Why this module exists: tests check what a client actually sent (fields, retries, no duplicate
creates) without mocking. Bodies are kept whole for in-process use; JSON views shorten ``data:``
URIs to their size and hash so a listing of image requests stays readable. The API key is never
stored: only whether it was accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import deque
from dataclasses import dataclass
from typing import Any

from bot.config import ProviderName


@dataclass(slots=True)
class RecordedRequest:
    """One request. ``status`` is None when the connection was dropped or the client left."""

    seq: int
    at: float  # monotonic seconds
    method: str
    path: str
    query: str
    provider: ProviderName | None
    body: Any
    auth_ok: bool | None = None  # None when the route needs no key
    status: int | None = None
    fault: str | None = None
    fault_phase: str | None = None
    task_id: str | None = None

    def to_json(self, *, full: bool = False) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "provider": self.provider,
            "body": self.body if full else shorten_data_uris(self.body),
            "auth_ok": self.auth_ok,
            "status": self.status,
            "fault": self.fault,
            "fault_phase": self.fault_phase,
            "task_id": self.task_id,
        }


def shorten_data_uris(value: Any) -> Any:
    """A copy of a JSON value, each ``data:`` URI as ``data:<mime>;base64,<N bytes sha256:…>``."""
    if isinstance(value, str) and value.startswith("data:") and "," in value:
        head, _, payload = value.partition(",")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return f"{head},<{len(payload)} undecodable characters>"
        return f"{head},<{len(raw)} bytes sha256:{hashlib.sha256(raw).hexdigest()[:12]}>"
    if isinstance(value, dict):
        return {key: shorten_data_uris(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shorten_data_uris(item) for item in value]
    return value


class Recorder:
    """The last ``limit`` requests, oldest first."""

    def __init__(self, limit: int) -> None:
        self._requests: deque[RecordedRequest] = deque(maxlen=limit)
        self._seq = 0

    def add(self, **fields: Any) -> RecordedRequest:
        self._seq += 1
        record = RecordedRequest(seq=self._seq, **fields)
        self._requests.append(record)
        return record

    def all(self) -> list[RecordedRequest]:
        return list(self._requests)

    def resize(self, limit: int) -> None:
        if limit != self._requests.maxlen:
            self._requests = deque(self._requests, maxlen=limit)

    def clear(self) -> None:
        self._requests.clear()
