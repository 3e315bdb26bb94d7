"""/usage and /jobs end to end, over a ledger seeded by real generations through the bot.

The default server's ledger is seeded once per module (``seeded``) by five real generations:

========  =====================  ==========================  =======================
member    command                what                         charge
========  =====================  ==========================  =======================
alice     /wan-t2v 832*480       wan2.2-t2v-plus 480P, 5 s    $0.10 estimated
alice     /wan-t2v 1920*1080     wan2.2-t2v-plus 1080P, 5 s   $0.50 estimated
alice     /wan-i2i n=2           wan2.5-i2i-preview, 2 images $0.06 estimated
bob       /wan-i2v-flash 720P    wan2.2-i2v-flash via Vtrix   $0.14 billed (Vtrix cost)
bob       /wan-t2v 480*832       wan2.2-t2v-plus 480P, 5 s    $0.10 estimated
========  =====================  ==========================  =======================

Server: 5 jobs, $0.90 = $0.76 estimated + $0.14 billed. Per-member daily budget: $5.

Nothing else ever generates in that server, so every figure below is exact. Tests that need
active (cancellable) jobs run in a second server, "Studio", whose ledger nobody checks.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest_asyncio

from bot.jobs.states import JobState
from bot.simulator.config import DEFAULT_DURATIONS
from tests.e2e.conftest import World, accept_cost, ephemeral_text, png_bytes, reply_of
from tests.emulator.messages import StoredMessage
from tests.emulator.models import Channel, Guild, User
from tests.waiting import wait_until

# wan2.2-i2v-flash through Vtrix, which reports the billed cost: the ledger then holds both
# estimated and billed charges.
BOT_ENV = {"WAN_I2V_FLASH_PROVIDER": "vtrix"}

T2V_TITLE = "Wan 2.2 text to video (Plus)"
I2I_TITLE = "Wan 2.5 image edit (preview)"
FLASH_TITLE = "Wan 2.2 image to video (Flash, via Vtrix)"
NEEDS_STAFF = "This needs the Manage Server permission."


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


async def generate(
    world: World,
    user: str | User,
    channel: str | Channel,
    command: str,
    options: dict[str, Any],
    attachments: dict[str, Any] | None = None,
) -> int:
    """Run a generation command; return the job id from the "Queued as job #N" answer."""
    itx = await world.discord.slash(user, channel, command, options, attachments=attachments)
    await itx.response(timeout=15)
    await accept_cost(world, user, itx)  # a dearer choice is asked about first
    reply = await reply_of(itx, within=15)
    match = re.search(r"Queued as job #(\d+)", reply.content)
    assert match, f"/{command} was not queued: {reply.content!r}"
    return int(match.group(1))


def mention(world: World, name: str) -> str:
    return f"<@{world.discord.users[name].id}>"


def footer(message: StoredMessage) -> str | None:
    texts = [e.get("footer", {}).get("text") for e in message.embeds]
    return texts[0] if texts else None


def field_values(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


# ---------------------------------------------------------------------------------------------
# The seeded ledger (default server)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    a_480: int
    a_1080: int
    a_i2i: int
    b_flash: int
    b_480: int


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(module_world: World) -> Seeded:
    world = module_world
    budget = await ephemeral_text(world, "staff", "general", "wanbot budget", {"user_daily": "5"})
    assert "**Per-member daily budget:** $5.00" in budget
    jobs = Seeded(
        a_480=await generate(
            world,
            "alice",
            "general",
            "wan-t2v",
            {"prompt": "a paper boat on a pond", "size": "832*480"},
        ),
        a_1080=await generate(
            world,
            "alice",
            "general",
            "wan-t2v",
            {"prompt": "a lighthouse in a storm", "size": "1920*1080"},  # confirmed dearer
        ),
        a_i2i=await generate(
            world,
            "alice",
            "general",
            "wan-i2i",
            {"prompt": "make it autumn", "n": 2},
            {"image": ("leaf.png", png_bytes(512, 512))},
        ),
        b_flash=await generate(
            world,
            "bob",
            "general",
            "wan-i2v-flash",
            {"prompt": "the kite rises", "resolution": "720P"},
            {"image": ("kite.png", png_bytes(640, 480))},
        ),
        b_480=await generate(
            world, "bob", "general", "wan-t2v", {"prompt": "snow on a red roof", "size": "480*832"}
        ),
    )
    done = await asyncio.gather(
        *(world.wait_job(job_id, JobState.DELIVERED, within=40) for job_id in vars(jobs).values())
    )
    by_id = {job.id: job for job in done}
    # The ledger the tests read is what these five generations made.
    assert [by_id[j].estimated_cost for j in vars(jobs).values()] == [
        Decimal("0.1"),
        Decimal("0.5"),
        Decimal("0.06"),
        Decimal("0.14"),
        Decimal("0.1"),
    ]
    assert by_id[jobs.b_flash].billed_cost == Decimal("0.14")
    assert [by_id[j].billed_cost for j in (jobs.a_480, jobs.a_1080, jobs.a_i2i, jobs.b_480)] == [
        None
    ] * 4
    # One create request each, no more.
    tasks = {job.task_id for job in done}
    assert len([c for c in world.creates() if c.task_id in tasks]) == len(tasks) == 5
    return jobs


# ---------------------------------------------------------------------------------------------
# /usage
# ---------------------------------------------------------------------------------------------


async def test_usage_me_shows_own_jobs_by_model_spend_apart_and_budget_left(
    world: World, seeded: Seeded
) -> None:
    alice = await ephemeral_text(world, "alice", "general", "usage me")
    assert alice.splitlines() == [
        "**Your usage today (UTC)**: 3 job(s), $0.66 ($0.66 estimated, $0.00 billed)",
        "**wan2.2-t2v-plus**: 2 job(s), 10 s of video; $0.60 estimated, $0.00 billed",
        "**wan2.5-i2i-preview**: 1 job(s), 2 images; $0.06 estimated, $0.00 billed",
        "Daily budget: $4.34 left of $5.00 (resets at 00:00 UTC).",
    ]
    bob = await ephemeral_text(world, "bob", "general", "usage me", {"period": "all"})
    assert bob.splitlines() == [
        "**Your usage all time**: 2 job(s), $0.24 ($0.10 estimated, $0.14 billed)",
        "**wan2.2-i2v-flash**: 1 job(s), 5 s of video; $0.00 estimated, $0.14 billed",
        "**wan2.2-t2v-plus**: 1 job(s), 5 s of video; $0.10 estimated, $0.00 billed",
        "Daily budget: $4.76 left of $5.00 (resets at 00:00 UTC).",
    ]
    # staff generated nothing: an empty report, the whole budget left.
    staff = await ephemeral_text(world, "staff", "general", "usage me", {"period": "month"})
    assert staff.splitlines() == [
        "**Your usage this month (UTC)**: 0 job(s), $0.00 ($0.00 estimated, $0.00 billed)",
        "Daily budget: $5.00 left of $5.00 (resets at 00:00 UTC).",
    ]


def server_report(world: World, period_words: str) -> list[str]:
    return [
        f"**Server usage {period_words}**: 5 job(s), $0.90 ($0.76 estimated, $0.14 billed)",
        "",
        "**By model**",
        "**wan2.2-t2v-plus**: 3 job(s), 15 s of video; $0.70 estimated, $0.00 billed",
        "**wan2.2-i2v-flash**: 1 job(s), 5 s of video; $0.00 estimated, $0.14 billed",
        "**wan2.5-i2i-preview**: 1 job(s), 2 images; $0.06 estimated, $0.00 billed",
        "",
        "**Top spenders**",
        f"1. {mention(world, 'alice')}: $0.66 over 3 job(s)",
        f"2. {mention(world, 'bob')}: $0.24 over 2 job(s)",
    ]


async def test_usage_server_totals_per_model_and_top_spenders(world: World, seeded: Seeded) -> None:
    itx = await world.discord.slash("staff", "general", "usage server")
    reply = await reply_of(itx)
    assert reply.ephemeral
    assert reply.content.splitlines() == server_report(world, "this month (UTC)")
    assert reply.mentions == []  # top spenders are named, not pinged
    for period, words in (("today", "today (UTC)"), ("all", "all time")):
        text = await ephemeral_text(world, "staff", "general", "usage server", {"period": period})
        assert text.splitlines() == server_report(world, words)


async def test_usage_user_shows_one_members_spend(world: World, seeded: Seeded) -> None:
    bob = await ephemeral_text(world, "staff", "general", "usage user", {"member": "bob"})
    assert bob.splitlines() == [
        f"**{mention(world, 'bob')} this month (UTC)**: 2 job(s), $0.24 ($0.10 estimated, "
        "$0.14 billed)",
        "**wan2.2-i2v-flash**: 1 job(s), 5 s of video; $0.00 estimated, $0.14 billed",
        "**wan2.2-t2v-plus**: 1 job(s), 5 s of video; $0.10 estimated, $0.00 billed",
        "Daily budget: $4.76 left of $5.00 (resets at 00:00 UTC).",
    ]
    alice = await ephemeral_text(
        world, "staff", "general", "usage user", {"member": "alice", "period": "today"}
    )
    assert alice.splitlines()[0] == (
        f"**{mention(world, 'alice')} today (UTC)**: 3 job(s), "
        "$0.66 ($0.66 estimated, $0.00 billed)"
    )
    assert alice.splitlines()[-1] == "Daily budget: $4.34 left of $5.00 (resets at 00:00 UTC)."


def _usd(text: str) -> Decimal:
    return Decimal(text.removeprefix("$"))


async def test_usage_export_csv_adds_up_to_exactly_what_usage_server_printed(
    world: World, seeded: Seeded
) -> None:
    printed = await ephemeral_text(world, "staff", "general", "usage server")
    head = re.match(
        r"\*\*Server usage this month \(UTC\)\*\*: (\d+) job\(s\), (\$[\d.]+) "
        r"\((\$[\d.]+) estimated, (\$[\d.]+) billed\)",
        printed,
    )
    assert head, printed
    jobs, total, estimated, billed = (
        int(head.group(1)),
        _usd(head.group(2)),
        _usd(head.group(3)),
        _usd(head.group(4)),
    )
    models = {
        m.group(1): (_usd(m.group(2)), _usd(m.group(3)))
        for m in re.finditer(
            r"\*\*([\w.-]+)\*\*: \d+ job\(s\), [^;]*; (\$[\d.]+) estimated, (\$[\d.]+) billed",
            printed,
        )
    }

    itx = await world.discord.slash("staff", "general", "usage export")
    assert (await itx.response()).type == 5  # deferred: building the file may take a moment
    reply = await itx.wait_original(lambda m: bool(m.attachments), timeout=10)
    assert reply.ephemeral
    [attachment] = reply.attachments
    guild_id = world.discord.guild.id
    assert attachment["filename"] == f"wanbot-ledger-{guild_id}-month.csv"
    text = world.discord.attachment_bytes(attachment).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "entry_id",
        "recorded_at_utc",
        "period_utc",
        "job_id",
        "user_id",
        "guild_id",
        "model",
        "entry",
        "amount_usd",
        "billed",
        "job_state",
        "note",
    ]
    # One reservation and one settlement per delivered job, all in this server.
    assert len(rows) == 10
    assert {row["guild_id"] for row in rows} == {str(guild_id)}
    assert sorted(row["entry"] for row in rows) == ["reserve"] * 5 + ["settle"] * 5
    assert {row["job_state"] for row in rows} == {"delivered"}

    per_job: dict[str, Decimal] = defaultdict(Decimal)
    job_billed: dict[str, bool] = defaultdict(bool)
    job_model: dict[str, str] = {}
    for row in rows:
        per_job[row["job_id"]] += Decimal(row["amount_usd"])
        job_billed[row["job_id"]] |= row["billed"] == "yes"
        job_model[row["job_id"]] = row["model"]
    assert sum(Decimal(row["amount_usd"]) for row in rows) == total == Decimal("0.90")
    assert len(per_job) == jobs == 5
    assert sum((v for j, v in per_job.items() if not job_billed[j]), Decimal(0)) == estimated
    assert sum((v for j, v in per_job.items() if job_billed[j]), Decimal(0)) == billed
    assert (estimated, billed) == (Decimal("0.76"), Decimal("0.14"))
    csv_models: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for job_id, amount in per_job.items():
        csv_models[job_model[job_id]][1 if job_billed[job_id] else 0] += amount
    assert {model: tuple(pair) for model, pair in csv_models.items()} == models
    assert per_job[str(seeded.a_1080)] == Decimal("0.50")
    assert per_job[str(seeded.a_i2i)] == Decimal("0.06")


async def test_usage_staff_reports_refuse_members_at_run_time(world: World, seeded: Seeded) -> None:
    creates = len(world.creates())
    for command, options in (
        ("usage server", {}),
        ("usage server", {"period": "all"}),
        ("usage user", {"member": "bob"}),
        ("usage export", {}),
    ):
        itx = await world.discord.slash("alice", "general", command, options)
        reply = await reply_of(itx)
        assert reply.ephemeral
        assert reply.content == NEEDS_STAFF, command
        assert reply.attachments == []
        assert "$" not in reply.content
    assert len(world.creates()) == creates


# ---------------------------------------------------------------------------------------------
# /jobs list and /jobs show (default server: reading only)
# ---------------------------------------------------------------------------------------------


def _link(world: World, channel: str, message_id: int | None) -> str:
    guild = world.discord.guild
    return f"https://discord.com/channels/{guild.id}/{guild.channels[channel].id}/{message_id}"


async def test_jobs_list_shows_own_jobs_with_state_cost_and_jump_link(
    world: World, seeded: Seeded
) -> None:
    jobs = {job_id: await world.job(job_id) for job_id in vars(seeded).values()}
    for job in jobs.values():
        [result_id] = job.delivered_message_ids
        assert footer(world.discord.message(result_id)) == f"wanbot job #{job.id} · result"

    def line(job_id: int, title: str, cost: str) -> str:
        url = _link(world, "general", jobs[job_id].delivered_message_ids[0])
        return f"**#{job_id}** {title} · done · {cost} · [open]({url})"

    alice = await ephemeral_text(world, "alice", "general", "jobs list")
    assert alice.splitlines() == [  # newest first, only her own
        line(seeded.a_i2i, I2I_TITLE, "$0.06 (estimated)"),
        line(seeded.a_1080, T2V_TITLE, "$0.50 (estimated)"),
        line(seeded.a_480, T2V_TITLE, "$0.10 (estimated)"),
    ]
    bob = await ephemeral_text(world, "bob", "general", "jobs list")
    assert bob.splitlines() == [
        line(seeded.b_480, T2V_TITLE, "$0.10 (estimated)"),
        line(seeded.b_flash, FLASH_TITLE, "$0.14 (billed)"),
    ]
    assert await ephemeral_text(world, "staff", "general", "jobs list") == (
        "You have no generations here yet."
    )


async def test_jobs_show_reposts_a_past_result_with_its_buttons(
    world: World, seeded: Seeded
) -> None:
    general = world.discord.guild.channels["general"]
    job = await world.job(seeded.a_i2i)
    itx = await world.discord.slash("alice", "general", "jobs show", {"job": seeded.a_i2i})
    shown = await reply_of(itx)
    assert not shown.ephemeral  # re-posted in the channel for everyone
    assert shown.channel_id == general.id
    assert shown.id != job.delivered_message_ids[0]
    [embed] = shown.embeds
    assert embed["footer"]["text"] == f"wanbot job #{seeded.a_i2i} · result"
    assert embed["title"] == I2I_TITLE
    assert embed["description"] == "> make it autumn"
    fields = field_values(embed)
    assert fields["Cost"] == "$0.06 (estimated)"
    assert fields["Images"] == "2"
    assert fields["Original"] == _link(world, "general", job.delivered_message_ids[0])
    assert shown.custom_ids == [
        f"wan:retry:{job.id}",
        f"wan:vary:{job.id}",
        f"wan:delete:{job.id}",
        f"wan:animate:{job.id}:0",
        f"wan:animate:{job.id}:1",
    ]

    video = await reply_of(
        await world.discord.slash("bob", "general", "jobs show", {"job": seeded.b_flash})
    )
    [embed] = video.embeds
    assert field_values(embed)["Cost"] == "$0.14 (billed)"
    assert field_values(embed)["Duration"] == "5 s"
    assert video.custom_ids == [
        f"wan:retry:{seeded.b_flash}",
        f"wan:vary:{seeded.b_flash}",
        f"wan:delete:{seeded.b_flash}",
        f"wan:extend:{seeded.b_flash}",
    ]

    # Someone else's job, and a job that does not exist, are refused privately.
    assert (
        await ephemeral_text(world, "bob", "general", "jobs show", {"job": seeded.a_i2i})
        == f"Job #{seeded.a_i2i} isn't yours."
    )
    assert (
        await ephemeral_text(world, "alice", "general", "jobs show", {"job": 987654})
        == "There is no job #987654 on this server."
    )


# ---------------------------------------------------------------------------------------------
# /jobs cancel with autocomplete (a second server, so the seeded ledger stays exact)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Studio:
    guild: Guild
    channel: Channel
    carol: User
    dave: User


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def studio(module_world: World) -> AsyncIterator[Studio]:
    discord = module_world.discord

    def sent(event: str) -> int:
        connection = discord.gateway.connection
        return sum(1 for _, name, _ in connection.sent if name == event) if connection else 0

    guilds, channels = sent("GUILD_CREATE"), sent("CHANNEL_CREATE")
    guild = discord.add_guild("Studio")
    channel = guild.add_channel("renders")
    carol = discord.add_user("carol", guild=guild)
    dave = discord.add_user("dave", guild=guild)
    # The emulator tells the bot in the background; wait until it has, so that the bot knows
    # the server before the first command there.
    await wait_until(
        lambda: (sent("GUILD_CREATE") - guilds, sent("CHANNEL_CREATE") - channels),
        done=lambda new: min(new) > 0,
        timeout=10,
        interval=0.01,
        message="the bot to be told of Studio (GUILD_CREATEs, CHANNEL_CREATEs sent since)",
    )
    reply = await reply_of(await discord.slash(carol, channel, "jobs list"))
    assert reply.content == "You have no generations here yet."
    yield Studio(guild, channel, carol, dave)


async def test_jobs_cancel_autocompletes_exactly_own_active_jobs_and_cancels(
    world: World, studio: Studio
) -> None:
    done = await generate(
        world,
        studio.carol,
        studio.channel,
        "wan-t2v",
        {"prompt": "finished clip", "size": "624*624"},
    )
    await world.wait_job(done, JobState.DELIVERED)
    # From here on a t2v task takes ~100 s: the jobs stay active while we look at them.
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 20000.0}})
    try:
        first = await generate(
            world,
            studio.carol,
            studio.channel,
            "wan-t2v",
            {"prompt": "slow river", "size": "624*624"},
        )
        second = await generate(
            world,
            studio.carol,
            studio.channel,
            "wan-t2v",
            {"prompt": "slow clouds", "size": "832*480"},
        )
        other = await generate(
            world,
            studio.dave,
            studio.channel,
            "wan-t2v",
            {"prompt": "dave's clip", "size": "832*480"},
        )
        for job_id in (first, second, other):
            await world.wait_job(job_id, JobState.RUNNING)

        async def choices(user: User, typed: str = "") -> list[tuple[str, int]]:
            found = await world.discord.autocomplete(
                user, studio.channel, "jobs cancel", {"job": typed}, "job"
            )
            return [(choice["name"], int(choice["value"])) for choice in found]

        assert await choices(studio.carol) == [
            (f"#{second} {T2V_TITLE}: slow clouds", second),
            (f"#{first} {T2V_TITLE}: slow river", first),
        ]
        assert await choices(studio.dave) == [(f"#{other} {T2V_TITLE}: dave's clip", other)]
        # Typing filters by job number (the text typed is looked for in the number).
        assert await choices(studio.carol, str(first)) == [
            choice
            for choice in [
                (f"#{second} {T2V_TITLE}: slow clouds", second),
                (f"#{first} {T2V_TITLE}: slow river", first),
            ]
            if str(first) in str(choice[1])
        ]

        # /jobs list shows the active ones generating, with an ETA and a link to the status.
        listed = await ephemeral_text(world, studio.carol, studio.channel, "jobs list")
        lines = listed.splitlines()
        assert len(lines) == 3
        for line, job_id, cost in ((lines[0], second, "$0.10"), (lines[1], first, "$0.10")):
            job = await world.job(job_id)
            url = (
                f"https://discord.com/channels/{studio.guild.id}/{studio.channel.id}/"
                f"{job.status_message_id}"
            )
            assert re.fullmatch(
                rf"\*\*#{job_id}\*\* {re.escape(T2V_TITLE)} · generating · "
                rf"ETA about \d+:\d\d · \{cost} \(estimated\) · "
                rf"\[open\]\({re.escape(url)}\)",
                line,
            ), line
        assert lines[2].startswith(f"**#{done}** {T2V_TITLE} · done · $0.10 (estimated) · ")

        # Dave can neither cancel carol's job nor see it offered.
        assert (
            await ephemeral_text(world, studio.dave, studio.channel, "jobs cancel", {"job": first})
            == f"Job #{first} isn't yours."
        )
        assert (await world.job(first)).state is JobState.RUNNING

        text = await ephemeral_text(
            world, studio.carol, studio.channel, "jobs cancel", {"job": second}
        )
        assert text == (
            f"Cancelled job #{second}. It was already running at the provider, "
            "which still bills it, so the estimate stays charged."
        )
        assert (await world.job(second)).state is JobState.CANCELLED
        assert await choices(studio.carol) == [(f"#{first} {T2V_TITLE}: slow river", first)]
        too_late = await ephemeral_text(
            world, studio.carol, studio.channel, "jobs cancel", {"job": done}
        )
        assert re.fullmatch(
            rf"Job #{done} can't be cancelled now \((done|delivered)\)\.", too_late
        ), too_late
        assert (await world.job(done)).state is JobState.DELIVERED
        listed = await ephemeral_text(world, studio.carol, studio.channel, "jobs list")
        assert f"**#{second}** {T2V_TITLE} · cancelled · $0.10 (estimated)" in listed
    finally:
        world.sim.state.patch_config(
            {"durations": {"wan2.2-t2v-plus": DEFAULT_DURATIONS["wan2.2-t2v-plus"]}}
        )
    for user, job_id in ((studio.carol, first), (studio.dave, other)):
        await ephemeral_text(world, user, studio.channel, "jobs cancel", {"job": job_id})
        await world.wait_job(job_id, JobState.CANCELLED)
    assert await choices(studio.carol) == []
    assert await choices(studio.dave) == []
