"""/wanbot end to end: staff settings, each one changing what a generation command does.

Every test leaves the server's settings as it found them (the autouse ``fresh_settings``
fixture resets them through ``/wanbot`` itself and checks ``/wanbot show`` against the
defaults), and tests that depend on a member's own history (budget, cooldown, concurrency) use
a member of their own. Every refusal is checked to have sent nothing upstream.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from bot.catalog import MODEL_IDS
from bot.jobs.states import JobState
from bot.simulator.config import DEFAULT_DURATIONS
from tests.e2e.conftest import World, accept_cost, ephemeral_text, png_bytes, reply_of
from tests.emulator import InteractionRefused
from tests.emulator.messages import StoredMessage
from tests.emulator.models import Channel, User
from tests.waiting import wait_until

DEFAULTS = [
    "**Per-member daily budget:** no cap",
    "**Server monthly budget:** no cap",
    "**Jobs at once per member:** 3",
    "**Queue per member:** 3",
    "**Cooldown between submissions:** 0 s",
    "**Channels:** everywhere",
    "**Roles:** everyone",
    "**Models off:** none",
    "**Safety filter:** members may turn it off in age-restricted channels",
    "**Blocklist:** 0 entries",
    "**Audit channel:** none",
    "**Approval:** not needed",
    "**Defaults:** the bot's (cheapest size or resolution)",
]
NEEDS_MANAGE_GUILD = "This needs the Manage Server permission."
BLOCKED = (
    "Your prompt contains a word or phrase this server doesn't allow. Rephrase it and try again."
)
SLOW_T2V = {"durations": {"wan2.2-t2v-plus": 20000.0}}  # ~100 s at the simulator's speed
FAST_T2V = {"durations": {"wan2.2-t2v-plus": DEFAULT_DURATIONS["wan2.2-t2v-plus"]}}
CHEAP = {"size": "832*480"}  # wan2.2-t2v-plus 480P: $0.02/s x 5 s = $0.10 (the default)
DEAR = {"size": "1920*1080"}  # 1080P: $0.10/s x 5 s = $0.50


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


async def staff(world: World, subcommand: str, options: dict[str, Any] | None = None) -> str:
    """``/wanbot <subcommand>`` as the staff member; the settings part of the answer."""
    return await ephemeral_text(world, "staff", "general", f"wanbot {subcommand}", options)


def settings_of(answer: str) -> list[str]:
    """The ``/wanbot show`` block at the end of an answer."""
    return answer.splitlines()[-len(DEFAULTS) :]


async def attempt(
    world: World,
    user: str | User,
    channel: str | Channel,
    command: str,
    options: dict[str, Any],
    attachments: dict[str, Any] | None = None,
) -> tuple[int | None, str]:
    """Run a generation command: (job id or None when refused, the member's private answer)."""
    itx = await world.discord.slash(user, channel, command, options, attachments=attachments)
    await itx.response(timeout=15)
    await accept_cost(world, user, itx)  # a dearer choice is asked about first
    reply = await reply_of(itx, within=15)
    assert reply.ephemeral
    match = re.match(r"Queued as job #(\d+)", reply.content)
    return (int(match.group(1)) if match else None), reply.content


async def generate(
    world: World,
    user: str | User,
    channel: str | Channel,
    command: str,
    options: dict[str, Any],
    attachments: dict[str, Any] | None = None,
) -> int:
    job_id, text = await attempt(world, user, channel, command, options, attachments)
    assert job_id is not None, f"/{command} was refused: {text!r}"
    return job_id


async def refused(
    world: World,
    user: str | User,
    channel: str | Channel,
    command: str,
    options: dict[str, Any],
    attachments: dict[str, Any] | None = None,
) -> str:
    """Run a generation command that must be refused: no job stored, nothing sent upstream."""
    await submissions_settled(world)  # earlier accepted jobs have made their create requests
    creates, jobs = len(world.creates()), count_jobs(world)
    job_id, text = await attempt(world, user, channel, command, options, attachments)
    assert job_id is None, f"/{command} was queued as job #{job_id}"
    assert count_jobs(world) == jobs
    assert len(world.creates()) == creates, "a refused generation reached the provider"
    return text


def _query(world: World, sql: str, *params: object) -> list[sqlite3.Row]:
    """Read the bot's database through a read-only connection (counts ``world.job()`` lacks)."""
    db = sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def count_jobs(world: World) -> int:
    return int(_query(world, "SELECT COUNT(*) FROM jobs")[0][0])


async def submissions_settled(world: World, within: float = 10) -> None:
    await wait_until(
        lambda: [
            row[0]
            for row in _query(world, "SELECT id FROM jobs WHERE state IN ('created', 'submitting')")
        ],
        done=lambda unsettled: not unsettled,
        timeout=within,
        message=lambda: f"every job to be past submission\n{world.bot.tail(40)}",
    )


def _sent(world: World, event: str) -> int:
    connection = world.discord.gateway.connection
    return sum(1 for _, name, _ in connection.sent if name == event) if connection else 0


async def announced(world: World, event: str, before: int) -> None:
    """Wait until the gateway has sent the bot one more ``event`` than ``before``: the emulator
    sends additions in the background, and an interaction naming a channel or role the bot has
    not heard of yet would fail (discord.py resolves them from its cache)."""
    await wait_until(
        lambda: _sent(world, event),
        done=lambda sent: sent > before,
        timeout=5,
        interval=0.01,
        message=f"one more {event} than {before}",
    )


async def create_of(world: World, job_id: int) -> Any:
    """The create request the provider received for a job (once the job is past submission)."""
    job = await world.wait_job(
        job_id, JobState.RUNNING, JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED
    )
    [create] = [c for c in world.creates() if c.task_id == job.task_id]
    return create


def member(world: World, name: str) -> User:
    """A new member (role ``member``) with no history: budgets and cooldowns start clean."""
    return world.discord.add_user(name, roles=["member"])


def mention(world: World, name: str) -> str:
    return f"<@{world.discord.users[name].id}>"


def audit_fields(message: StoredMessage) -> tuple[str, dict[str, str]]:
    [embed] = message.embeds
    return embed["title"], {f["name"]: f["value"] for f in embed.get("fields", [])}


async def next_audit(world: World, after: StoredMessage | int | None) -> StoredMessage:
    return await world.discord.wait_for_message(
        "audit", lambda m: bool(m.embeds), timeout=10, after=after
    )


def last_id(world: World, channel: str) -> int:
    messages = world.discord.messages(channel)
    return messages[-1].id if messages else 0


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_settings(world: World) -> AsyncIterator[None]:
    """After each test: every setting back to its default, through /wanbot itself."""
    yield
    world.sim.state.patch_config(FAST_T2V)
    await staff(world, "budget", {"user_daily": "none", "server_monthly": "none"})
    await staff(world, "limits", {"concurrent": 3, "queue": 3, "cooldown": 0})
    await staff(world, "approval", {"above": "none"})
    await staff(world, "channels", {"action": "clear"})
    await staff(world, "roles", {"action": "clear"})
    await staff(world, "blocklist", {"action": "clear"})
    await staff(world, "safety", {"locked": False})
    await staff(world, "audit-channel")
    for model in MODEL_IDS:
        await staff(world, "model", {"model": model, "enabled": True})
    assert (await staff(world, "show")).splitlines() == DEFAULTS


# ---------------------------------------------------------------------------------------------
# Who may change settings
# ---------------------------------------------------------------------------------------------


async def test_wanbot_is_hidden_from_members_and_refused_when_invoked_anyway(world: World) -> None:
    with pytest.raises(InteractionRefused, match="hidden"):
        await world.discord.slash("alice", "general", "wanbot show")
    attempts = {
        "show": {},
        "budget": {"user_daily": "0"},
        "limits": {"cooldown": 600},
        "channels": {"action": "add", "channel": "general"},
        "roles": {"action": "add", "role": "member"},
        "model": {"model": "wan2.2-t2v-plus", "enabled": False},
        "safety": {"locked": True},
        "blocklist": {"action": "add", "pattern": "cat"},
        "audit-channel": {"channel": "general"},
        "member-budget": {"member": "alice", "daily": "100"},
    }
    for subcommand, options in attempts.items():
        text = await ephemeral_text(
            world, "alice", "general", f"wanbot {subcommand}", options, validate=False
        )
        assert text == NEEDS_MANAGE_GUILD, subcommand
    # Nothing changed, and the staff reports refuse members too.
    assert (await staff(world, "show")).splitlines() == DEFAULTS
    for command in ("usage server", "usage export"):
        assert await ephemeral_text(world, "bob", "general", command) == (
            "This needs the Manage Server permission."
        )
    # The server owner may (owners have every permission).
    assert (await ephemeral_text(world, "owner", "general", "wanbot show")).splitlines() == (
        DEFAULTS
    )


async def test_settings_persist_across_a_restart(world: World) -> None:
    guild = world.discord.guild
    await staff(world, "budget", {"user_daily": "2.5", "server_monthly": "$100"})
    await staff(world, "limits", {"concurrent": 2, "cooldown": 5})
    await staff(world, "channels", {"action": "add", "channel": "general"})
    await staff(world, "roles", {"action": "add", "role": "member"})
    await staff(world, "model", {"model": "wan2.6-i2v", "enabled": False})
    await staff(world, "safety", {"locked": True})
    await staff(world, "blocklist", {"action": "add", "pattern": "gore*"})
    answer = await staff(world, "audit-channel", {"channel": "audit"})
    expected = [
        "**Per-member daily budget:** $2.50",
        "**Server monthly budget:** $100.00",
        "**Jobs at once per member:** 2",
        "**Queue per member:** 3",
        "**Cooldown between submissions:** 5 s",
        f"**Channels:** <#{guild.channels['general'].id}>",
        f"**Roles:** <@&{guild.roles['member'].id}>",
        "**Models off:** wan2.6-i2v",
        "**Safety filter:** locked on",
        "**Blocklist:** 1 entry",
        f"**Audit channel:** <#{guild.channels['audit'].id}>",
        "**Approval:** not needed",
        "**Defaults:** the bot's (cheapest size or resolution)",
    ]
    assert settings_of(answer) == expected

    await world.restart()  # SIGKILL, then a new process on the same database

    assert (await staff(world, "show")).splitlines() == expected
    # ...and they still act: the blocklist refuses, and the refusal reaches the audit channel.
    before = last_id(world, "audit")
    assert (
        await refused(world, "alice", "general", "wan-t2v", {"prompt": "Gorefest at midnight"})
        == BLOCKED
    )
    title, fields = audit_fields(await next_audit(world, before))
    assert (title, fields["Note"]) == ("Refused by the blocklist", "matched: gore*")


# ---------------------------------------------------------------------------------------------
# Budgets
# ---------------------------------------------------------------------------------------------


async def test_per_member_daily_budget_refuses_what_would_exceed_it(world: World) -> None:
    frank = member(world, "frank")
    answer = await staff(world, "budget", {"user_daily": "0.30"})
    assert answer.startswith("Budgets updated; they apply from the next submission.")
    assert settings_of(answer)[0] == "**Per-member daily budget:** $0.30"

    first = await generate(world, frank, "general", "wan-t2v", {"prompt": "a lantern", **CHEAP})
    # Over budget is said before anything else, even before a dearer choice is asked about.
    dear = {"prompt": "a lantern, 1080P", **DEAR}
    assert await refused(world, frank, "general", "wan-t2v", dear) == (
        "This would cost about $0.50, and you have $0.20 left of your $0.30 daily budget. Try "
        "a cheaper setting or wait until tomorrow (UTC)."
    )
    assert (await ephemeral_text(world, frank, "general", "usage me")).splitlines()[-1] == (
        "Daily budget: $0.20 left of $0.30 (resets at 00:00 UTC)."
    )
    # Up to the cap exactly is allowed; then no room is left for $0.10. (The first job is done
    # first, so the default limit of three running jobs does not answer instead.)
    await world.wait_job(first, JobState.DELIVERED)
    second = await generate(world, frank, "general", "wan-t2v", {"prompt": "two", **CHEAP})
    third = await generate(world, frank, "general", "wan-t2v", {"prompt": "three", **CHEAP})
    # Nothing left at all: refused before anything is downloaded or estimated.
    assert await refused(world, frank, "general", "wan-t2v", {"prompt": "four", **CHEAP}) == (
        "You have $0.00 left of your $0.30 daily budget. Wait until tomorrow (UTC)."
    )
    # Another member has a budget of their own.
    kate = member(world, "kate")
    other = await generate(world, kate, "general", "wan-t2v", {"prompt": "kate's", **CHEAP})

    answer = await staff(world, "budget", {"user_daily": "0"})
    assert settings_of(answer)[0] == "**Per-member daily budget:** generation off"
    for user in (frank, kate):
        assert await refused(world, user, "general", "wan-t2v", {"prompt": "x", **CHEAP}) == (
            "Generation is turned off for you on this server."
        )
    for job_id in (second, third, other):
        await world.wait_job(job_id, JobState.DELIVERED)


async def test_member_budget_overrides_the_servers_per_member_cap(world: World) -> None:
    greta = member(world, "greta")
    await staff(world, "budget", {"user_daily": "0.10"})
    assert await refused(world, greta, "general", "wan-t2v", {"prompt": "a heron", **DEAR}) == (
        "This would cost about $0.50, and you have $0.10 left of your $0.10 daily budget. Try "
        "a cheaper setting or wait until tomorrow (UTC)."
    )
    assert await staff(world, "member-budget", {"member": greta.id, "daily": "0.60"}) == (
        f"{mention(world, 'greta')} may spend $0.60 a day (UTC). It applies from their next "
        "submission."
    )
    job_id = await generate(world, greta, "general", "wan-t2v", {"prompt": "a heron", **DEAR})
    assert (await ephemeral_text(world, greta, "general", "usage me")).splitlines()[-1] == (
        "Daily budget: $0.10 left of $0.60 (resets at 00:00 UTC)."
    )
    await world.wait_job(job_id, JobState.DELIVERED)
    assert await staff(world, "member-budget", {"member": greta.id, "daily": "0"}) == (
        f"Generation is off for {mention(world, 'greta')}. It applies from their next submission."
    )
    assert await refused(world, greta, "general", "wan-t2v", {"prompt": "x", **CHEAP}) == (
        "Generation is turned off for you on this server."
    )
    await staff(world, "member-budget", {"member": greta.id, "daily": "none"})
    assert (await ephemeral_text(world, greta, "general", "usage me")).splitlines()[-1] == (
        "Daily budget: $0.00 left of $0.10 (resets at 00:00 UTC)."
    )


async def _server_spend(world: World) -> Decimal:
    text = await ephemeral_text(world, "staff", "general", "usage server")
    match = re.match(r"\*\*Server usage this month \(UTC\)\*\*: \d+ job\(s\), \$([\d.]+) ", text)
    assert match, text
    return Decimal(match.group(1))


async def test_server_monthly_budget_refuses_what_would_exceed_it(world: World) -> None:
    spent = await _server_spend(world)
    cap = spent + Decimal("0.15")
    answer = await staff(world, "budget", {"server_monthly": f"{cap}"})
    assert settings_of(answer)[1] == f"**Server monthly budget:** ${cap:.2f}"

    job_id = await generate(world, "alice", "general", "wan-t2v", {"prompt": "last dime", **CHEAP})
    # Every member draws on the same server budget: $0.05 is left, not enough for $0.10.
    assert await refused(world, "bob", "general", "wan-t2v", {"prompt": "one more", **CHEAP}) == (
        f"This would cost about $0.10, and the server has $0.05 left of its ${cap:.2f} monthly "
        "budget. Ask the server staff."
    )
    assert await _server_spend(world) == cap - Decimal("0.05")
    answer = await staff(world, "budget", {"server_monthly": "0"})
    assert settings_of(answer)[1] == "**Server monthly budget:** generation off"
    assert await refused(world, "staff", "general", "wan-t2v", {"prompt": "staff", **CHEAP}) == (
        "Generation is turned off on this server."
    )
    await staff(world, "budget", {"server_monthly": "none"})
    await world.wait_job(job_id, JobState.DELIVERED)
    other = await generate(world, "bob", "general", "wan-t2v", {"prompt": "again", **CHEAP})
    await world.wait_job(other, JobState.DELIVERED)


# ---------------------------------------------------------------------------------------------
# Where, who, which model, safety, words
# ---------------------------------------------------------------------------------------------


async def test_allowed_channels_refuse_generation_elsewhere(world: World) -> None:
    before = _sent(world, "CHANNEL_CREATE")
    renders = world.discord.guild.add_channel("renders", topic="Generations only")
    await announced(world, "CHANNEL_CREATE", before)
    answer = await staff(world, "channels", {"action": "add", "channel": renders})
    assert answer.startswith("Channels updated.")
    assert settings_of(answer)[5] == f"**Channels:** <#{renders.id}>"

    assert await refused(world, "alice", "general", "wan-t2v", {"prompt": "here?", **CHEAP}) == (
        f"Generation isn't allowed in this channel. Use <#{renders.id}>."
    )
    assert await refused(
        world,
        "alice",
        "nsfw-art",
        "wan-i2i",
        {"prompt": "an edit"},
        {"image": ("a.png", png_bytes(512, 512))},
    ) == (f"Generation isn't allowed in this channel. Use <#{renders.id}>.")
    there = await generate(world, "alice", renders, "wan-t2v", {"prompt": "there", **CHEAP})
    assert (await world.job(there)).channel_id == renders.id

    answer = await staff(world, "channels", {"action": "remove", "channel": renders})
    assert settings_of(answer)[5] == "**Channels:** everywhere"
    back = await generate(world, "alice", "general", "wan-t2v", {"prompt": "back", **CHEAP})
    for job_id in (there, back):
        await world.wait_job(job_id, JobState.DELIVERED)


async def test_allowed_roles_refuse_members_without_one_but_not_staff(world: World) -> None:
    before = _sent(world, "GUILD_ROLE_CREATE")
    creators = world.discord.guild.add_role("creators")
    await announced(world, "GUILD_ROLE_CREATE", before)
    gina = world.discord.add_user("gina", roles=["member", creators])
    answer = await staff(world, "roles", {"action": "add", "role": "creators"})
    assert settings_of(answer)[6] == f"**Roles:** <@&{creators.id}>"

    assert await refused(world, "alice", "general", "wan-t2v", {"prompt": "me?", **CHEAP}) == (
        f"Generation on this server is for members with one of these roles: <@&{creators.id}>."
    )
    allowed = [
        await generate(world, gina, "general", "wan-t2v", {"prompt": "gina", **CHEAP}),
        # staff (Manage Server) are not held to the list
        await generate(world, "staff", "general", "wan-t2v", {"prompt": "staff", **CHEAP}),
    ]
    for job_id in allowed:
        await world.wait_job(job_id, JobState.DELIVERED)


async def test_a_model_turned_off_is_refused_until_turned_on_again(world: World) -> None:
    answer = await staff(world, "model", {"model": "wan2.2-t2v-plus", "enabled": False})
    assert answer.startswith("wan2.2-t2v-plus is off on this server.")
    assert settings_of(answer)[7] == "**Models off:** wan2.2-t2v-plus"

    assert await refused(world, "alice", "general", "wan-t2v", {"prompt": "off?", **CHEAP}) == (
        "wan2.2-t2v-plus is turned off on this server. Try another model."
    )
    # Other models are unaffected.
    edit = await generate(
        world,
        "alice",
        "general",
        "wan-i2i",
        {"prompt": "still on"},
        {"image": ("b.png", png_bytes(512, 512))},
    )

    answer = await staff(world, "model", {"model": "wan2.2-t2v-plus", "enabled": True})
    assert answer.startswith("wan2.2-t2v-plus is on on this server.")
    assert settings_of(answer)[7] == "**Models off:** none"
    again = await generate(world, "alice", "general", "wan-t2v", {"prompt": "on", **CHEAP})
    for job_id in (edit, again):
        await world.wait_job(job_id, JobState.DELIVERED)


async def test_safety_lock_keeps_the_filter_on_even_in_age_restricted_channels(
    world: World,
) -> None:
    image = {"image": ("c.png", png_bytes(512, 512))}
    unfiltered = {"prompt": "a moody portrait", "safety_filter": False}
    answer = await staff(world, "safety", {"locked": True})
    assert answer.startswith("Safety filter locked on.")
    assert settings_of(answer)[8] == "**Safety filter:** locked on"
    locked = "The safety filter is locked on by this server's staff; leave it on."
    assert await refused(world, "alice", "nsfw-art", "wan-i2i", unfiltered, image) == locked
    assert await refused(world, "alice", "general", "wan-i2i", unfiltered, image) == locked

    answer = await staff(world, "safety", {"locked": False})
    assert settings_of(answer)[8] == (
        "**Safety filter:** members may turn it off in age-restricted channels"
    )
    job_id = await generate(world, "alice", "nsfw-art", "wan-i2i", unfiltered, image)
    assert (await create_of(world, job_id)).body["safety_filter"] is False
    assert await refused(world, "alice", "general", "wan-i2i", unfiltered, image) == (
        "The safety filter can only be turned off in an age-restricted channel. Leave it on, "
        "or use an age-restricted channel."
    )
    await world.wait_job(job_id, JobState.DELIVERED)


async def test_blocklist_refuses_whole_words_in_any_case_without_echoing_them(world: World) -> None:
    await staff(world, "audit-channel", {"channel": "audit"})
    answer = await staff(world, "blocklist", {"action": "add", "pattern": "dragon"})
    assert answer.startswith("Blocklist updated.")
    assert settings_of(answer)[9] == "**Blocklist:** 1 entry"
    answer = await staff(world, "blocklist", {"action": "add", "pattern": "gore*"})
    assert settings_of(answer)[9] == "**Blocklist:** 2 entries"
    assert await staff(world, "blocklist", {"action": "list"}) == "• `dragon`\n• `gore*`"

    before = last_id(world, "audit")
    text = await refused(
        world, "alice", "general", "wan-t2v", {"prompt": "A DRAGON made of clouds", **CHEAP}
    )
    assert text == BLOCKED
    assert "dragon" not in text.lower()
    # Staff learn what matched, with the whole prompt.
    post = await next_audit(world, before)
    title, fields = audit_fields(post)
    assert title == "Refused by the blocklist"
    assert fields == {
        "Member": mention(world, "alice"),
        "Model": "wan2.2-t2v-plus",
        "Prompt": "A DRAGON made of clouds",
        "Note": "matched: dragon",
    }

    assert (
        await refused(
            world,
            "bob",
            "general",
            "wan-t2v",
            {"prompt": "a calm sea", "negative_prompt": "Dragon", **CHEAP},
        )
        == BLOCKED
    )
    assert (
        await refused(world, "bob", "general", "wan-t2v", {"prompt": "Gorefest poster", **CHEAP})
        == BLOCKED
    )
    # Whole words only: a longer word that contains the entry is fine.
    job_id = await generate(
        world, "alice", "general", "wan-t2v", {"prompt": "a dragonfly over a pond", **CHEAP}
    )
    assert (await create_of(world, job_id)).body["prompt"] == "a dragonfly over a pond"

    answer = await staff(world, "blocklist", {"action": "remove", "pattern": "DRAGON"})
    assert settings_of(answer)[9] == "**Blocklist:** 1 entry"
    again = await generate(
        world, "alice", "general", "wan-t2v", {"prompt": "A DRAGON made of clouds", **CHEAP}
    )
    for done in (job_id, again):
        await world.wait_job(done, JobState.DELIVERED)


# ---------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------


async def test_cooldown_refuses_a_second_submission_with_the_seconds_left(world: World) -> None:
    hank = member(world, "hank")
    answer = await staff(world, "limits", {"cooldown": 30})
    assert answer.startswith("Limits updated.")
    assert settings_of(answer)[4] == "**Cooldown between submissions:** 30 s"

    first = await generate(world, hank, "general", "wan-t2v", {"prompt": "one", **CHEAP})
    text = await refused(world, hank, "general", "wan-t2v", {"prompt": "two", **CHEAP})
    match = re.fullmatch(r"Please wait (\d+) more second\(s\) before the next generation\.", text)
    assert match, text
    assert 28 <= int(match.group(1)) <= 30
    # The cooldown is per member.
    other = await generate(
        world, member(world, "jill"), "general", "wan-t2v", {"prompt": "jill", **CHEAP}
    )

    await staff(world, "limits", {"cooldown": 0})
    second = await generate(world, hank, "general", "wan-t2v", {"prompt": "two", **CHEAP})
    for job_id in (first, other, second):
        await world.wait_job(job_id, JobState.DELIVERED)


async def test_concurrency_limit_refuses_a_second_running_job(world: World) -> None:
    ivy = member(world, "ivy")
    answer = await staff(world, "limits", {"concurrent": 1, "queue": 0})
    assert settings_of(answer)[2:4] == [
        "**Jobs at once per member:** 1",
        "**Queue per member:** none (refused at the limit)",
    ]
    await submissions_settled(world)
    world.sim.state.patch_config(SLOW_T2V)

    slow = await generate(world, ivy, "general", "wan-t2v", {"prompt": "slow", **CHEAP})
    await world.wait_job(slow, JobState.RUNNING)
    assert await refused(world, ivy, "general", "wan-t2v", {"prompt": "second", **CHEAP}) == (
        "You already have 1 generation(s) running; the limit is 1. Wait for one to finish or "
        "cancel one."
    )

    world.sim.state.patch_config(FAST_T2V)
    assert (await ephemeral_text(world, ivy, "general", "jobs cancel", {"job": slow})).startswith(
        f"Cancelled job #{slow}."
    )
    await world.wait_job(slow, JobState.CANCELLED)
    after = await generate(world, ivy, "general", "wan-t2v", {"prompt": "second", **CHEAP})
    await world.wait_job(after, JobState.DELIVERED)


# ---------------------------------------------------------------------------------------------
# Audit channel
# ---------------------------------------------------------------------------------------------


async def test_audit_channel_records_submissions_and_cancels(world: World) -> None:
    guild = world.discord.guild
    audit = guild.channels["audit"]
    before = last_id(world, "audit")
    quiet = await generate(world, "alice", "general", "wan-t2v", {"prompt": "unaudited", **CHEAP})
    # Its submission is announced in the background: let it finish before the channel is set.
    await world.wait_job(quiet, JobState.DELIVERED)
    assert last_id(world, "audit") == before  # no audit channel yet: nothing posted

    answer = await staff(world, "audit-channel", {"channel": "audit"})
    assert answer.startswith(f"Audit channel: <#{audit.id}>.")
    assert settings_of(answer)[10] == f"**Audit channel:** <#{audit.id}>"

    job_id = await generate(
        world, "alice", "general", "wan-t2v", {"prompt": "a heron at dusk", **CHEAP}
    )
    post = await next_audit(world, before)
    status_id = (await world.job(job_id)).status_message_id
    title, fields = audit_fields(post)
    assert title == "Generation submitted"
    assert fields == {
        "Member": mention(world, "alice"),
        "Model": "wan2.2-t2v-plus",
        "Cost": "$0.10 (estimated)",
        "Prompt": "a heron at dusk",
        "Note": f"job #{job_id}",
        "Message": (
            f"https://discord.com/channels/{guild.id}/{guild.channels['general'].id}/{status_id}"
        ),
    }
    assert post.mentions == []  # recorded, not pinged

    await submissions_settled(world)  # the jobs above were created at the usual speed
    world.sim.state.patch_config(SLOW_T2V)
    slow = await generate(world, "bob", "general", "wan-t2v", {"prompt": "a slow tide", **CHEAP})
    submitted = await next_audit(world, post)
    assert audit_fields(submitted)[1]["Note"] == f"job #{slow}"
    await world.wait_job(slow, JobState.RUNNING)
    world.sim.state.patch_config(FAST_T2V)
    # Staff (Manage Messages) cancel bob's job: the record says who cancelled whose job.
    text = await ephemeral_text(world, "staff", "general", "jobs cancel", {"job": slow})
    assert text == (
        f"Cancelled job #{slow}. It was already running at the provider, which "
        "still bills it, so the estimate stays charged."
    )
    title, fields = audit_fields(await next_audit(world, submitted))
    assert title == "Generation cancelled"
    # Cost is not checked here: the Cancel button's post never carried one, and /jobs cancel
    # is being moved onto the same code.
    fields.pop("Cost", None)
    assert fields == {
        "Member": mention(world, "staff"),
        "Model": "wan2.2-t2v-plus",
        "Prompt": "a slow tide",
        "Note": f"job #{slow} of {mention(world, 'bob')}",
    }

    answer = await staff(world, "audit-channel")
    assert settings_of(answer)[10] == "**Audit channel:** none"
    seen = last_id(world, "audit")
    last = await generate(world, "alice", "general", "wan-t2v", {"prompt": "unseen", **CHEAP})
    assert last_id(world, "audit") == seen
    for done in (quiet, job_id, last):
        await world.wait_job(done, JobState.DELIVERED)
