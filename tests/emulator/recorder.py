"""The log of every HTTP request the bot made: method, path, route, bodies, answer, time.

Why this module exists: tests assert on what the bot *did* ("one PUT of the commands", "no
unexpected routes", "the edit came through the channel route"); each request is kept whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.emulator.rules import route_matches


@dataclass
class UploadedFile:
    field: str
    filename: str
    content_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class RecordedRequest:
    method: str
    path: str  # below /api/v10, e.g. /channels/123/messages
    query: dict[str, str]
    headers: dict[str, str]
    at: float  # loop time
    route: str | None = None  # "POST /channels/{channel_id}/messages"; None when unknown
    json: Any = None  # the JSON body, or the multipart payload_json
    files: list[UploadedFile] = field(default_factory=list)
    form: dict[str, str] = field(default_factory=dict)  # other multipart text parts
    status: int | None = None
    response: Any = None

    @property
    def multipart(self) -> bool:
        return bool(self.files or self.form)

    def matches(self, pattern: str) -> bool:
        return route_matches(pattern, self.method, self.path, self.route)

    def __repr__(self) -> str:
        body = "" if self.json is None else " " + json.dumps(self.json)[:200]
        return f"<{self.method} {self.path} -> {self.status}{body}>"


class RequestLog(list[RecordedRequest]):
    """A list of requests with a filter: ``log.matching("POST /channels/*/messages")``."""

    def matching(self, pattern: str) -> list[RecordedRequest]:
        return [r for r in self if r.matches(pattern)]
