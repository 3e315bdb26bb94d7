"""Building INTERACTION_CREATE payloads exactly as Discord sends them.

Why this module exists: a slash command, a button click, a modal submit and an autocomplete
request share the envelope (member with permissions, channel, app_permissions, locale,
attachment_size_limit, authorizing_integration_owners…); option values are typed and resolved
from the registered command schema, and refused where a real client would not let a user send
them (unknown option, missing required, value outside choices or bounds, hidden command).
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.emulator import permissions as perms
from tests.emulator.interaction_state import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    InteractionRecord,
)
from tests.emulator.models import Channel, Guild, Role, User
from tests.emulator.state import EmulatorState

STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2


class InteractionRefused(ValueError):
    """The test asked for something a Discord client would not let a user send."""


class InteractionBuilder:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # -- the envelope --------------------------------------------------------------------------
    def new_record(
        self,
        kind: int,
        user: User,
        channel: Channel,
        guild: Guild | None,
        *,
        data: dict[str, Any],
        locale: str = "en-US",
        app_permissions: int | None = None,
        message: dict[str, Any] | None = None,
        message_id: int | None = None,
    ) -> InteractionRecord:
        state = self.state
        world = state.world
        itx_id = state.ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        bot_id = world.bot_user.id
        channel_payload = channel.payload()
        payload: dict[str, Any] = {
            "id": str(itx_id),
            "application_id": str(world.application_id),
            "type": kind,
            "data": data,
            "channel": channel_payload,
            "channel_id": str(channel.id),
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": state.upload_limit(guild.id if guild else None),
        }
        if guild is not None:
            if user.id not in guild.members:
                raise InteractionRefused(f"{user.username} is not a member of {guild.name}")
            member_perms = guild.permissions_in(user.id, channel)
            channel_payload["permissions"] = str(member_perms)
            if app_permissions is None:
                app_permissions = guild.permissions_in(bot_id, channel)
            payload.update(
                guild_id=str(guild.id),
                guild=guild.interaction_guild(),
                guild_locale=guild.preferred_locale,
                member=guild.members[user.id].payload(permissions=member_perms),
                app_permissions=str(app_permissions),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=user.payload(),
                context=1,
                app_permissions=str(
                    app_permissions if app_permissions is not None else perms.BOT_DEFAULT
                ),
                authorizing_integration_owners={"0": str(user.id)},
            )
        if message is not None:
            payload["message"] = message
        return InteractionRecord(
            id=itx_id,
            token=token,
            type=kind,
            payload=payload,
            user=user,
            channel_id=channel.id,
            guild_id=guild.id if guild else None,
            created_at=state.now(),
            message_id=message_id,
        )

    # -- application commands ------------------------------------------------------------------
    def command_data(
        self,
        command_line: str,
        guild: Guild | None,
        channel: Channel,
        user: User,
        options: dict[str, Any],
        *,
        validate: bool,
        focused: str | None = None,
    ) -> dict[str, Any]:
        parts = command_line.split()
        found = self.state.commands.find(parts[0], guild.id if guild else None)
        if found is None:
            raise InteractionRefused(f"no registered command /{parts[0]}")
        command, scope = found
        if validate:
            self._check_visible(command, guild, channel, user)
        schema: list[dict[str, Any]] = command.get("options") or []
        chain: list[dict[str, Any]] = []
        for part in parts[1:]:
            sub = next(
                (
                    o
                    for o in schema
                    if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
                ),
                None,
            )
            if sub is None:
                raise InteractionRefused(f"/{command_line}: no subcommand {part!r}")
            chain.append(sub)
            schema = sub.get("options") or []
        if any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in schema):
            raise InteractionRefused(f"/{command_line} needs a subcommand")
        resolved: dict[str, dict[str, Any]] = {}
        built = self._options(
            schema, options, resolved, guild, channel, validate=validate, focused=focused
        )
        for sub in reversed(chain):
            built = [{"type": sub["type"], "name": sub["name"], "options": built}]
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1}
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    def _check_visible(
        self, command: dict[str, Any], guild: Guild | None, channel: Channel, user: User
    ) -> None:
        name = command["name"]
        if guild is None:
            contexts = command.get("contexts")
            if (contexts is not None and 1 not in contexts) or command.get(
                "dm_permission"
            ) is False:
                raise InteractionRefused(f"/{name} is not available in DMs")
            return
        contexts = command.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise InteractionRefused(f"/{name} is not available in servers")
        required = command.get("default_member_permissions")
        if required is not None:
            have = guild.base_permissions(user.id)
            need = int(required)
            if not have & perms.ADMINISTRATOR and (need == 0 or have & need != need):
                raise InteractionRefused(
                    f"/{name} is hidden from {user.username} "
                    f"(default_member_permissions={required})"
                )
        if command.get("nsfw") and not channel.nsfw:
            raise InteractionRefused(f"/{name} is age-restricted and #{channel.name} is not")

    def _options(
        self,
        schema: list[dict[str, Any]],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        guild: Guild | None,
        channel: Channel,
        *,
        validate: bool,
        focused: str | None,
    ) -> list[dict[str, Any]]:
        by_name = {o["name"]: o for o in schema}
        unknown_names = set(values) - set(by_name)
        if unknown_names:
            raise InteractionRefused(f"unknown option(s) {sorted(unknown_names)}")
        if validate and focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
            if missing:
                raise InteractionRefused(f"missing required option(s) {missing}")
        built = []
        for option in schema:  # Discord sends options in schema order
            name = option["name"]
            if name not in values:
                continue
            if name == focused:
                built.append(
                    {
                        "type": option["type"],
                        "name": name,
                        "value": str(values[name]),
                        "focused": True,
                    }
                )
                continue
            value = self._value(option, values[name], resolved, guild, channel, validate=validate)
            built.append({"type": option["type"], "name": name, "value": value})
        return built

    def _value(
        self,
        option: dict[str, Any],
        raw: Any,
        resolved: dict[str, dict[str, Any]],
        guild: Guild | None,
        channel: Channel,
        *,
        validate: bool,
    ) -> Any:
        kind, name = option["type"], option["name"]
        world = self.state.world
        if kind in (STRING, INTEGER, NUMBER):
            value = {STRING: str, INTEGER: int, NUMBER: float}[kind](raw)
            if kind == NUMBER and isinstance(raw, int):
                value = raw
            choices = option.get("choices")
            if choices:
                by_label = {c["name"]: c["value"] for c in choices}
                if value not in [c["value"] for c in choices] and raw in by_label:
                    value = by_label[raw]
                if validate and value not in [c["value"] for c in choices]:
                    raise InteractionRefused(f"{name}={raw!r} is not one of the choices")
            if validate:
                _check_bounds(option, value)
            return value
        if kind == BOOLEAN:
            return bool(raw)
        if kind == ATTACHMENT:
            if isinstance(raw, tuple):
                raw = self.state.cdn.add(*raw)
            if not isinstance(raw, dict):
                raise InteractionRefused(f"{name} needs an Attachment from emulator.cdn.add()")
            resolved.setdefault("attachments", {})[str(raw["id"])] = raw
            return str(raw["id"])
        if kind == CHANNEL:
            target = raw if isinstance(raw, Channel) else _channel_ref(guild, raw)
            types = option.get("channel_types")
            if validate and types and target.type not in types:
                raise InteractionRefused(f"{name}: #{target.name} is not an allowed type")
            entry = {
                "id": str(target.id),
                "name": target.name,
                "type": target.type,
                "parent_id": None if target.parent_id is None else str(target.parent_id),
                "nsfw": target.nsfw,
                "flags": 0,
                "topic": target.topic,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "position": 0,
            }
            if guild is not None:
                entry["guild_id"] = str(guild.id)
                entry["permissions"] = str(guild.permissions_in(world.bot_user.id, target))
            resolved.setdefault("channels", {})[str(target.id)] = entry
            return str(target.id)
        if (
            kind in (ROLE, MENTIONABLE)
            and guild is not None
            and (isinstance(raw, Role) or (isinstance(raw, str) and raw in guild.roles))
        ):
            role = guild.role(raw)
            resolved.setdefault("roles", {})[str(role.id)] = role.payload()
            return str(role.id)
        if kind in (USER, MENTIONABLE):
            user = world.user(raw)
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            if guild is not None and user.id in guild.members:
                resolved.setdefault("members", {})[str(user.id)] = guild.members[user.id].payload(
                    with_user=False, permissions=guild.permissions_in(user.id, channel)
                )
            return str(user.id)
        raise InteractionRefused(f"{name}: cannot build a value of option type {kind}")


def _check_bounds(option: dict[str, Any], value: Any) -> None:
    name = option["name"]
    if isinstance(value, str):
        low, high = option.get("min_length"), option.get("max_length")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise InteractionRefused(f"{name}: length {len(value)} outside [{low}, {high}]")
    else:
        low, high = option.get("min_value"), option.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise InteractionRefused(f"{name}: {value} outside [{low}, {high}]")


def _channel_ref(guild: Guild | None, raw: Any) -> Channel:
    if guild is None:
        raise InteractionRefused("channel options need a guild")
    return guild.channel(raw.id if hasattr(raw, "id") else raw)


def modal_submission(
    modal: dict[str, Any], values: dict[str, Any], *, validate: bool
) -> list[dict[str, Any]]:
    """The ``data.components`` Discord sends back for ``modal`` filled with ``values``."""
    known: set[str] = set()

    def submitted(item: dict[str, Any]) -> dict[str, Any]:
        custom_id = item.get("custom_id", "")
        known.add(custom_id)
        out: dict[str, Any] = {"type": item["type"], "custom_id": custom_id}
        if item.get("id") is not None:
            out["id"] = item["id"]
        if item["type"] == 4:
            value = str(values.get(custom_id, item.get("value") or ""))
            if validate:
                required = item.get("required", True)
                if required and not value:
                    raise InteractionRefused(f"modal field {custom_id!r} is required")
                low, high = item.get("min_length"), item.get("max_length")
                if value and (
                    (low is not None and len(value) < low)
                    or (high is not None and len(value) > high)
                ):
                    raise InteractionRefused(
                        f"modal field {custom_id!r}: length {len(value)} outside [{low}, {high}]"
                    )
            out["value"] = value
        else:
            chosen = values.get(custom_id, [])
            out["values"] = list(chosen) if isinstance(chosen, list | tuple) else [chosen]
        return out

    rows: list[dict[str, Any]] = []
    for row in modal.get("components") or []:
        kind = row.get("type")
        if kind == 1:
            rows.append(
                {
                    "type": 1,
                    **({"id": row["id"]} if "id" in row else {}),
                    "components": [submitted(i) for i in row.get("components") or []],
                }
            )
        elif kind == 18 and isinstance(row.get("component"), dict):
            rows.append(
                {
                    "type": 18,
                    **({"id": row["id"]} if "id" in row else {}),
                    "component": submitted(row["component"]),
                }
            )
        elif kind == 10:
            rows.append({"type": 10, **({"id": row["id"]} if "id" in row else {})})
    extra = set(values) - known
    if extra:
        raise InteractionRefused(f"the modal has no field(s) {sorted(extra)}")
    return rows


__all__ = [
    "APPLICATION_COMMAND",
    "AUTOCOMPLETE",
    "InteractionBuilder",
    "InteractionRefused",
    "modal_submission",
]
