"""Discord's rules as switches a test can flip, and injected 429s and 5xx answers.

Why this module exists: each rule (3 s deadline, token lifetime, double acknowledgement,
upload and payload limits, permissions) is on by default with Discord's values; a test changes
one, and ``reset()`` restores the configuration between tests sharing one emulator. The
per-channel write limit (``channel_write_limit``, see :mod:`tests.emulator.write_limits`) is off
by default, so that tests not about it never wait for it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from tests.emulator.config import EmulatorConfig
from tests.emulator.write_limits import Window


@dataclass
class Fault:
    """A scripted answer for the next ``remaining`` requests matching ``pattern``."""

    pattern: str
    remaining: int
    status: int
    retry_after: float = 0.0
    is_global: bool = False
    hits: int = 0

    def matches(self, method: str, path: str, template: str | None) -> bool:
        return route_matches(self.pattern, method, path, template)


def route_matches(pattern: str, method: str, path: str, template: str | None) -> bool:
    """``"POST /channels/*/messages"``, ``"/webhooks/*"`` or a template such as
    ``"POST /channels/{channel_id}/messages"``; without a method any method matches."""
    want_method, _, want_path = pattern.partition(" ")
    if not want_path:
        want_method, want_path = "", pattern
    if want_method and want_method.upper() != method.upper():
        return False
    if template is not None and want_path == template.partition(" ")[2]:
        return True
    return fnmatch.fnmatchcase(path, want_path)


class Rules:
    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self.faults: list[Fault] = []
        self.reset()

    def reset(self) -> None:
        """Back to the configuration's values; clears injected faults and upload limits."""
        config = self._config
        self.deadline_seconds: float | None = config.deadline_seconds
        self.token_ttl_seconds: float | None = config.token_ttl_seconds
        self.default_upload_limit: int = config.upload_limit
        self.enforce_double_ack: bool = config.enforce_double_ack
        self.enforce_message_limits: bool = config.enforce_message_limits
        self.enforce_component_limits: bool = config.enforce_component_limits
        self.enforce_permissions: bool = config.enforce_permissions
        self.cdn_url_ttl_seconds: float = config.cdn_url_ttl_seconds
        self.min_click_delay: float = config.min_click_delay
        # (writes, seconds) per channel for message creates, edits and deletes together.
        self.channel_write_limit: tuple[int, float] | None = config.channel_write_limit
        self.channel_write_window: Window = config.channel_write_window
        self._upload_limits: dict[int, int] = {}
        self.faults.clear()

    # -- uploads -------------------------------------------------------------------------------
    def upload_limit(self, guild: object | None = None) -> int:
        """Per-attachment limit in bytes for ``guild`` (a Guild, its id, or None for DMs)."""
        gid = _guild_id(guild)
        if gid is not None and gid in self._upload_limits:
            return self._upload_limits[gid]
        return self.default_upload_limit

    def set_upload_limit(self, guild: object, limit: int | None) -> None:
        """Per-guild limit (``None`` goes back to the default)."""
        gid = _guild_id(guild)
        assert gid is not None
        if limit is None:
            self._upload_limits.pop(gid, None)
        else:
            self._upload_limits[gid] = int(limit)

    # -- faults --------------------------------------------------------------------------------
    def inject_429(
        self, route_pattern: str, n: int = 1, retry_after: float = 0.2, *, is_global: bool = False
    ) -> Fault:
        """The next ``n`` matching requests get 429 with ``retry_after`` and a ``Via`` header."""
        fault = Fault(route_pattern, n, 429, retry_after=retry_after, is_global=is_global)
        self.faults.append(fault)
        return fault

    def inject_5xx(self, route_pattern: str, n: int = 1, status: int = 500) -> Fault:
        """The next ``n`` matching requests get ``status`` (500 by default)."""
        fault = Fault(route_pattern, n, status)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str, template: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.matches(method, path, template):
                fault.remaining -= 1
                fault.hits += 1
                return fault
        return None


def _guild_id(guild: object | None) -> int | None:
    if guild is None:
        return None
    if isinstance(guild, int):
        return guild
    gid = getattr(guild, "id", None)
    return int(gid) if gid is not None else int(str(guild))
