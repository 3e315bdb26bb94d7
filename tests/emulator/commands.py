"""The application's registered commands, global and per guild, as Discord keeps them.

Why this module exists: a bulk overwrite replaces the set but keeps the id of a command whose
name and type did not change (Discord does); tests read the full option schema back, and the
slash helper builds interactions from it.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.emulator.snowflakes import SnowflakeFactory


class CommandRegistry:
    def __init__(self, ids: SnowflakeFactory, application_id: int) -> None:
        self._ids = ids
        self._app_id = application_id
        self.scopes: dict[int | None, list[dict[str, Any]]] = {None: []}
        self.overwrites: list[tuple[int | None, float]] = []  # (guild_id, loop time)

    def list(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return copy.deepcopy(self.scopes.get(guild_id, []))

    def overwrite(
        self, guild_id: int | None, commands: list[dict[str, Any]], now: float
    ) -> list[dict[str, Any]]:
        old = {(c["name"], c.get("type", 1)): c for c in self.scopes.get(guild_id, [])}
        result = []
        for raw in commands:
            key = (raw["name"], raw.get("type", 1))
            previous = old.get(key)
            result.append(self._full(raw, guild_id, previous))
        self.scopes[guild_id] = result
        self.overwrites.append((guild_id, now))
        return copy.deepcopy(result)

    def upsert(self, guild_id: int | None, raw: dict[str, Any], now: float) -> dict[str, Any]:
        scope = self.scopes.setdefault(guild_id, [])
        key = (raw["name"], raw.get("type", 1))
        for index, command in enumerate(scope):
            if (command["name"], command.get("type", 1)) == key:
                scope[index] = self._full(raw, guild_id, command)
                return copy.deepcopy(scope[index])
        command = self._full(raw, guild_id, None)
        scope.append(command)
        self.overwrites.append((guild_id, now))
        return copy.deepcopy(command)

    def get_by_id(self, guild_id: int | None, command_id: int) -> dict[str, Any] | None:
        for command in self.scopes.get(guild_id, []):
            if int(command["id"]) == int(command_id):
                return command
        return None

    def delete(self, guild_id: int | None, command_id: int) -> bool:
        scope = self.scopes.get(guild_id, [])
        for index, command in enumerate(scope):
            if int(command["id"]) == int(command_id):
                del scope[index]
                return True
        return False

    def find(
        self, name: str, guild_id: int | None, kind: int = 1
    ) -> tuple[dict[str, Any], int | None] | None:
        """A guild command first (as Discord shows them), then a global one."""
        scopes = ([guild_id] if guild_id is not None else []) + [None]
        for scope in scopes:
            for command in self.scopes.get(scope, []):
                if command["name"] == name and command.get("type", 1) == kind:
                    return command, scope
        return None

    def _full(
        self, raw: dict[str, Any], guild_id: int | None, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        kind = raw.get("type", 1)
        command: dict[str, Any] = {
            "id": previous["id"] if previous else str(self._ids.next()),
            "application_id": str(self._app_id),
            "version": str(self._ids.next()),
            "type": kind,
            "name": raw["name"],
            "description": raw.get("description", ""),
            "name_localizations": raw.get("name_localizations"),
            "description_localizations": raw.get("description_localizations"),
            "default_member_permissions": None
            if raw.get("default_member_permissions") is None
            else str(raw["default_member_permissions"]),
            "dm_permission": raw.get("dm_permission", True),
            "nsfw": bool(raw.get("nsfw", False)),
            "contexts": raw.get("contexts"),
            "integration_types": raw.get("integration_types", [0]),
            "options": copy.deepcopy(raw.get("options") or []),
        }
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        if raw.get("handler") is not None:
            command["handler"] = raw["handler"]
        return command
