"""REST reads the bot makes at start-up and now and then: users, application, gateway URL,
guilds, members, roles, channels; plus DM channel creation and typing.

Why this module exists: ``login`` calls ``GET /users/@me`` and ``GET /oauth2/applications/@me``;
``fetch_*`` helpers and permission checks read guilds and channels. Answers mirror Discord's.
"""

from __future__ import annotations

from typing import Any

from tests.emulator import permissions as perms
from tests.emulator.errors import DiscordError, missing_access, unknown
from tests.emulator.router import NO_CONTENT, Call, Router


def register(router: Router) -> None:
    router.add("GET", "/users/@me", users_me)
    router.add("GET", "/users/@me/guilds", my_guilds)
    router.add("POST", "/users/@me/channels", create_dm)
    router.add("GET", "/users/{user_id}", get_user)
    router.add("GET", "/oauth2/applications/@me", application_info)
    router.add("GET", "/applications/@me", application_info)
    router.add("GET", "/gateway", gateway)
    router.add("GET", "/gateway/bot", gateway_bot)
    router.add("GET", "/guilds/{guild_id}", get_guild)
    router.add("GET", "/guilds/{guild_id}/channels", guild_channels)
    router.add("GET", "/guilds/{guild_id}/roles", guild_roles)
    router.add("GET", "/guilds/{guild_id}/members", guild_members)
    router.add("GET", "/guilds/{guild_id}/members/{user_id}", guild_member)
    router.add("GET", "/channels/{channel_id}", get_channel)
    router.add("POST", "/channels/{channel_id}/typing", typing)


async def users_me(call: Call) -> Any:
    user = call.state.world.bot_user
    return {
        **user.payload(),
        "verified": True,
        "mfa_enabled": False,
        "email": None,
        "locale": "en-US",
        "bot": True,
    }


async def get_user(call: Call) -> Any:
    try:
        return call.state.world.users[call.int_param("user_id")].payload()
    except (KeyError, ValueError):
        raise unknown("User") from None


async def my_guilds(call: Call) -> Any:
    state = call.state
    bot_id = state.world.bot_user.id
    return [
        {
            "id": str(g.id),
            "name": g.name,
            "icon": None,
            "banner": None,
            "owner": g.owner_id == bot_id,
            "permissions": str(g.base_permissions(bot_id)),
            "features": [],
        }
        for g in state.world.guilds.values()
    ]


async def create_dm(call: Call) -> Any:
    state = call.state
    recipient = (call.json or {}).get("recipient_id")
    try:
        user = state.world.users[int(recipient)]
    except (KeyError, TypeError, ValueError):
        raise unknown("User") from None
    return state.world.dm_channel(user).payload()


async def application_info(call: Call) -> Any:
    state = call.state
    world = state.world
    return {
        "id": str(world.application_id),
        "name": state.config.application_name,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": world.owner.payload(),
        "team": None,
        "flags": state.config.application_flags,
        "rpc_origins": [],
        "tags": [],
        "bot": world.bot_user.payload(),
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "approximate_guild_count": len(world.guilds),
        "approximate_user_install_count": 0,
        "integration_types_config": {"0": {}},
        "install_params": None,
        "custom_install_url": None,
        "terms_of_service_url": None,
        "privacy_policy_url": None,
        "event_webhooks_status": 1,
    }


async def gateway(call: Call) -> Any:
    return {"url": call.state.ws_url()}


async def gateway_bot(call: Call) -> Any:
    """The gateway URL, the recommended shard count (``EmulatorConfig.gateway_shards``) and the
    session start limit: IDENTIFYs left of the day, and how many may start per 5 s."""
    config = call.state.config
    total = config.session_start_total
    return {
        "url": call.state.ws_url(),
        "shards": config.gateway_shards,
        "session_start_limit": {
            "total": total,
            "remaining": max(total - call.state.gateway.identifies, 0),
            "reset_after": 14400000,
            "max_concurrency": config.max_concurrency,
        },
    }


async def get_guild(call: Call) -> Any:
    guild = call.state.guild(call.params["guild_id"])
    data = guild.payload()
    if call.query.get("with_counts") in ("true", "1", "True"):
        data["approximate_member_count"] = len(guild.members)
        data["approximate_presence_count"] = len(guild.members)
    return data


async def guild_channels(call: Call) -> Any:
    guild = call.state.guild(call.params["guild_id"])
    return [c.payload() for c in guild.channels_by_id.values()]


async def guild_roles(call: Call) -> Any:
    guild = call.state.guild(call.params["guild_id"])
    return [r.payload() for r in guild.roles_by_id.values()]


async def guild_members(call: Call) -> Any:
    guild = call.state.guild(call.params["guild_id"])
    limit = min(max(int(call.query.get("limit", 1)), 1), 1000)
    after = int(call.query.get("after", 0))
    members = sorted(guild.members.values(), key=lambda m: m.user.id)
    return [m.payload() for m in members if m.user.id > after][:limit]


async def guild_member(call: Call) -> Any:
    guild = call.state.guild(call.params["guild_id"])
    try:
        return guild.members[call.int_param("user_id")].payload()
    except (KeyError, ValueError):
        raise unknown("Member") from None


async def get_channel(call: Call) -> Any:
    state = call.state
    channel, guild = state.channel(call.params["channel_id"])
    if guild is not None and state.rules.enforce_permissions:
        allowed = guild.permissions_in(state.world.bot_user.id, channel)
        if not allowed & perms.VIEW_CHANNEL:
            raise missing_access()
    return channel.payload()


async def typing(call: Call) -> Any:
    state = call.state
    channel, guild = state.channel(call.params["channel_id"])
    if guild is not None and state.rules.enforce_permissions:
        allowed = guild.permissions_in(state.world.bot_user.id, channel)
        if not allowed & perms.SEND_MESSAGES:
            raise DiscordError(403, 50013, "Missing Permissions")
    return NO_CONTENT
