"""Application command routes: bulk overwrite, list, get, create, edit, delete; global and
per guild.

Why this module exists: ``tree.sync()`` is ``PUT /applications/{app}/commands`` (or the guild
route); Discord validates the set (names, descriptions, option order, limits) and answers with
the stored commands, ids kept across overwrites.
"""

from __future__ import annotations

from typing import Any

from tests.emulator.errors import DiscordError, invalid_form, unknown
from tests.emulator.router import NO_CONTENT, Call, Router
from tests.emulator.validation import command_problems

_GLOBAL = "/applications/{application_id}/commands"
_GUILD = "/applications/{application_id}/guilds/{guild_id}/commands"


def register(router: Router) -> None:
    for base in (_GLOBAL, _GUILD):
        router.add("GET", base, list_commands)
        router.add("PUT", base, overwrite_commands)
        router.add("POST", base, create_command)
        router.add("GET", base + "/{command_id}", get_command)
        router.add("PATCH", base + "/{command_id}", edit_command)
        router.add("DELETE", base + "/{command_id}", delete_command)


def _scope(call: Call) -> int | None:
    state = call.state
    if str(state.world.application_id) != call.params["application_id"]:
        raise DiscordError(403, 50001, "Missing Access")
    if "guild_id" in call.params:
        return state.guild(call.params["guild_id"]).id
    return None


async def list_commands(call: Call) -> Any:
    return call.state.commands.list(_scope(call))


async def overwrite_commands(call: Call) -> Any:
    scope = _scope(call)
    problems = command_problems(call.json)
    if problems:
        raise invalid_form(problems)
    result = call.state.commands.overwrite(scope, call.json, call.state.now())
    call.state.notify()
    return result


async def create_command(call: Call) -> Any:
    scope = _scope(call)
    problems = command_problems([call.json])
    if problems:
        raise invalid_form({path[1:]: problem for path, problem in problems.items()})
    existed = call.state.commands.find(call.json["name"], scope, call.json.get("type", 1))
    result = call.state.commands.upsert(scope, call.json, call.state.now())
    call.state.notify()
    return result if existed and existed[1] == scope else (201, result)


async def get_command(call: Call) -> Any:
    command = call.state.commands.get_by_id(_scope(call), call.int_param("command_id"))
    if command is None:
        raise unknown("application command")
    return command


async def edit_command(call: Call) -> Any:
    scope = _scope(call)
    command = call.state.commands.get_by_id(scope, call.int_param("command_id"))
    if command is None:
        raise unknown("application command")
    merged = {**command, **(call.json or {})}
    return call.state.commands.upsert(scope, merged, call.state.now())


async def delete_command(call: Call) -> Any:
    if not call.state.commands.delete(_scope(call), call.int_param("command_id")):
        raise unknown("application command")
    call.state.notify()
    return NO_CONTENT
