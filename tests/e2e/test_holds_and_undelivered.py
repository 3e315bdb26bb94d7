"""Held estimates and undelivered results, end to end through the real bot process.

* ``/wanbot release``: a job whose create outcome is unknown (the simulator drops the
  connection after it made the task) holds its estimate; staff release it, the member's budget
  room comes back at once, the ledger gets a ``release`` entry and the audit channel a record.
  Jobs that hold nothing are refused, each with why.
* ``/usage`` says how much is held, to the member and (with the job ids) to staff.
* ``/jobs show`` gives the links of a result that was made but could not be posted, privately,
  to its owner or staff, until they expire.

A task that was accepted and never answered becomes ``timed_out`` only after a day, and a post
fails for good only when both the channel and the member's direct messages are gone, so those
jobs are written into the bot's database from here (plain sqlite3: the bot holds the store),
copied from a real delivered job; the bot only ever reads them through the commands tested.
Every test releases what it made held, so the server holds nothing between tests.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from bot.jobs.money import to_micros
from bot.jobs.states import JobState
from bot.simulator import ScriptedFault
from tests.e2e.conftest import World, ephemeral_text, reply_of
from tests.emulator.messages import StoredMessage
from tests.emulator.models import User

CHEAP = {"size": "832*480"}  # wan2.2-t2v-plus 480P: $0.02/s x 5 s = $0.10
T2V_TITLE = "Wan 2.2 text to video (Plus)"
NEEDS_STAFF = "This needs the Manage Server permission."
DAY = 86_400  # the bot's result_ttl_seconds: provider links last about a day
OTHER_SERVER = 4_242_424_242


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


async def staff(world: World, command: str, options: dict[str, Any] | None = None) -> str:
    return await ephemeral_text(world, "staff", "general", command, options)


async def generate(world: World, user: str | User, options: dict[str, Any]) -> int:
    itx = await world.discord.slash(user, "general", "wan-t2v", options)
    reply = await reply_of(itx, within=15)
    match = re.search(r"Queued as job #(\d+)", reply.content)
    assert match, f"/wan-t2v was not queued: {reply.content!r}"
    return int(match.group(1))


def mention(user: User | str, world: World | None = None) -> str:
    if isinstance(user, str):
        assert world is not None
        user = world.discord.users[user]
    return f"<@{user.id}>"


def ledger(world: World, job_id: int) -> list[tuple[str, Decimal]]:
    with contextlib.closing(
        sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True, timeout=10)
    ) as db:
        rows = db.execute(
            "SELECT entry, amount_micros FROM ledger WHERE job_id = ? ORDER BY id", (job_id,)
        ).fetchall()
    return [(entry, Decimal(micros) / 1_000_000) for entry, micros in rows]


def seed_job(world: World, template: int, *, reserve: bool, **columns: Any) -> int:
    """A copy of job ``template``'s row with ``columns`` changed, written into the bot's
    database (with a ``reserve`` ledger entry when ``reserve``); its id."""
    now = time.time()
    with contextlib.closing(sqlite3.connect(world.db_path, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM jobs WHERE id = ?", (template,)).fetchone())
        del row["id"]
        row.update(
            status_message_id=None,
            delivered_message_ids="[]",
            delivered_at=None,
            created_at=now,
            **columns,
        )
        with db:
            cursor = db.execute(
                f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            job_id = cursor.lastrowid
            assert job_id is not None
            if reserve:
                db.execute(
                    "INSERT INTO ledger (job_id, user_id, guild_id, model_id, entry,"
                    " amount_micros, billed, charged_at, created_at, note)"
                    " VALUES (?, ?, ?, ?, 'reserve', ?, 0, ?, ?, 'seeded by the test')",
                    (
                        job_id,
                        row["user_id"],
                        row["guild_id"],
                        row["model_id"],
                        row["estimated_micros"],
                        now,
                        now,
                    ),
                )
    return job_id


def timed_out_after_acceptance(user: User, estimate: str) -> dict[str, Any]:
    """Columns of a job the provider accepted and never answered within a day."""
    now = time.time()
    return {
        "user_id": user.id,
        "state": JobState.TIMED_OUT.value,
        "task_id": f"seeded-{user.id}-{estimate}",
        "submitted_at": now - DAY - 60,
        "finished_at": now,
        "result_urls": "[]",
        "error_code": "timed_out",
        "error_message": "The provider never answered.",
        "estimated_micros": to_micros(Decimal(estimate)),
        "billed_micros": None,
    }


def audit_fields(message: StoredMessage) -> tuple[str, dict[str, str]]:
    [embed] = message.embeds
    return embed["title"], {f["name"]: f["value"] for f in embed.get("fields", [])}


def held_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Held:")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def template(module_world: World) -> int:
    """A real delivered job (alice's) whose row the seeded jobs copy."""
    job_id = await generate(module_world, "alice", {"prompt": "a template clip", **CHEAP})
    job = await module_world.wait_job(job_id, JobState.DELIVERED, within=40)
    assert job.result_urls
    assert job.finished_at is not None
    return job_id


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def nothing_held_around(world: World) -> AsyncIterator[None]:
    """Each test starts and ends with nothing held in the server and default settings."""
    assert held_lines(await staff(world, "usage server")) == []
    yield
    await staff(world, "wanbot budget", {"user_daily": "none"})
    await staff(world, "wanbot audit-channel")
    assert held_lines(await staff(world, "usage server")) == []


# ---------------------------------------------------------------------------------------------
# /wanbot release
# ---------------------------------------------------------------------------------------------


async def test_release_gives_an_unknown_outcomes_estimate_back_and_audits_it(
    world: World,
) -> None:
    hugo = world.discord.add_user("hugo", roles=["member"])
    await staff(world, "wanbot budget", {"user_daily": "1"})
    await staff(world, "wanbot audit-channel", {"channel": "audit"})
    # The provider makes the task, then the connection drops before its answer.
    world.sim.state.push_faults(ScriptedFault(kind="drop", target="create", phase="after"))
    job_id = await generate(world, hugo, {"prompt": "did it arrive?", **CHEAP})
    job = await world.wait_job(job_id, JobState.SUBMISSION_UNKNOWN)
    assert job.holds_estimate
    assert job.error_code == "submission_unknown"
    notice = await world.discord.wait_for_message(
        "general",
        lambda m: any(
            e.get("footer", {}).get("text") == f"wanbot job #{job_id} · notice" for e in m.embeds
        ),
        timeout=15,
    )
    assert audit_fields(notice)[1]["Cost"] == (
        "The estimate ($0.10) stays counted against your budget, because the provider may have "
        f"accepted and billed it. Server staff can release it with `/wanbot release job:{job_id}`."
    )

    # What the member and staff read while it is held.
    held_for_member = (
        "Held: $0.10 for 1 job whose outcome is unknown (staff can release it with "
        "/wanbot release)."
    )
    assert (await ephemeral_text(world, hugo, "general", "usage me")).splitlines() == [
        "**Your usage today (UTC)**: 1 job(s), $0.10 ($0.10 estimated, $0.00 billed)",
        "**wan2.2-t2v-plus**: 1 job(s), 5 s of video; $0.10 estimated, $0.00 billed",
        held_for_member,
        "Daily budget: $0.90 left of $1.00 (resets at 00:00 UTC).",
    ]
    held_for_staff = (
        "Held: $0.10 for 1 job whose outcome is unknown (release with /wanbot release "
        f"job:<id>): #{job_id} ({mention(hugo)}, $0.10)."
    )
    server = await staff(world, "usage server")
    assert server.splitlines()[-2:] == ["", held_for_staff]
    assert held_lines(await staff(world, "usage user", {"member": hugo.id})) == [held_for_staff]
    listed = await ephemeral_text(world, hugo, "general", "jobs list")
    assert listed.startswith(f"**#{job_id}** {T2V_TITLE} · not confirmed, estimate held · ")
    shown = await ephemeral_text(world, hugo, "general", "jobs show", {"job": job_id})
    assert shown == (
        f"Job #{job_id} has no result to show (not confirmed, estimate held). The estimate "
        "($0.10) stays counted against your budget, because the provider may have accepted "
        f"and billed it. Server staff can release it with `/wanbot release job:{job_id}`."
    )

    # Staff see it offered; a member may not release it (the command is hidden, and refused).
    offered = await world.discord.autocomplete(
        "staff", "general", "wanbot release", {"job": ""}, "job"
    )
    assert [(c["name"], int(c["value"])) for c in offered] == [
        (f"#{job_id} {T2V_TITLE} · $0.10: did it arrive?", job_id)
    ]
    refused = await ephemeral_text(
        world, hugo, "general", "wanbot release", {"job": job_id}, validate=False
    )
    assert refused == NEEDS_STAFF
    assert (await world.job(job_id)).holds_estimate

    audit_before = world.discord.messages("audit")
    released = await staff(world, "wanbot release", {"job": job_id})
    assert released == (
        f"Released the $0.10 estimate held by job #{job_id} ({T2V_TITLE}) of {mention(hugo)}: "
        "it no longer counts against their daily budget or the server's monthly budget."
    )
    post = await world.discord.wait_for_message(
        "audit",
        lambda m: bool(m.embeds),
        timeout=10,
        after=audit_before[-1] if audit_before else None,
    )
    assert audit_fields(post) == (
        "Held estimate released",
        {
            "Member": mention(hugo),
            "Model": "wan2.2-t2v-plus",
            "Cost": "$0.10",
            "Note": f"job #{job_id}; released by {mention('staff', world)}",
        },
    )
    assert post.mentions == []
    after = await world.job(job_id)
    assert after.hold_released_at is not None
    assert not after.holds_estimate
    assert ledger(world, job_id) == [("reserve", Decimal("0.1")), ("release", Decimal("-0.1"))]

    # The budget room is back at once, and nothing is held any more.
    mine = (await ephemeral_text(world, hugo, "general", "usage me")).splitlines()
    assert held_lines("\n".join(mine)) == []
    assert mine[-1] == "Daily budget: $1.00 left of $1.00 (resets at 00:00 UTC)."
    assert await ephemeral_text(world, hugo, "general", "jobs show", {"job": job_id}) == (
        f"Job #{job_id} has no result to show (not confirmed). Server staff released the "
        "estimate ($0.10): nothing is counted."
    )
    assert (
        await world.discord.autocomplete("staff", "general", "wanbot release", {"job": ""}, "job")
        == []
    )
    # Releasing twice is refused with when it was released; the ledger is unchanged.
    assert await staff(world, "wanbot release", {"job": job_id}) == (
        f"Job #{job_id} holds nothing: its estimate ($0.10) was already released "
        f"<t:{int(after.hold_released_at)}:f>."
    )
    assert len(ledger(world, job_id)) == 2


async def test_timed_out_jobs_hold_until_released_and_usage_counts_them(
    world: World, template: int
) -> None:
    ines = world.discord.add_user("ines", roles=["member"])
    small = seed_job(world, template, reserve=True, **timed_out_after_acceptance(ines, "0.10"))
    large = seed_job(world, template, reserve=True, **timed_out_after_acceptance(ines, "0.50"))
    assert (await world.job(small)).holds_estimate
    assert (await world.job(large)).holds_estimate

    mine = await ephemeral_text(world, ines, "general", "usage me")
    assert held_lines(mine) == [
        "Held: $0.60 for 2 jobs whose outcome is unknown (staff can release them with "
        "/wanbot release)."
    ]
    assert held_lines(await staff(world, "usage server")) == [
        "Held: $0.60 for 2 jobs whose outcome is unknown (release with /wanbot release "
        f"job:<id>): #{large} ({mention(ines)}, $0.50), #{small} ({mention(ines)}, $0.10)."
    ]
    # Another member's view names nothing of hers.
    assert held_lines(await ephemeral_text(world, "bob", "general", "usage me")) == []

    assert (await staff(world, "wanbot release", {"job": large})).startswith(
        f"Released the $0.50 estimate held by job #{large} ({T2V_TITLE}) of {mention(ines)}"
    )
    assert ledger(world, large) == [("reserve", Decimal("0.5")), ("release", Decimal("-0.5"))]
    assert held_lines(await staff(world, "usage user", {"member": ines.id})) == [
        "Held: $0.10 for 1 job whose outcome is unknown (release with /wanbot release "
        f"job:<id>): #{small} ({mention(ines)}, $0.10)."
    ]
    assert (await staff(world, "wanbot release", {"job": small})).startswith(
        f"Released the $0.10 estimate held by job #{small}"
    )
    assert held_lines(await ephemeral_text(world, ines, "general", "usage me")) == []


async def test_release_refuses_jobs_that_hold_nothing_saying_why(
    world: World, template: int
) -> None:
    jade = world.discord.add_user("jade", roles=["member"])
    never_sent = seed_job(
        world,
        template,
        reserve=False,
        user_id=jade.id,
        state=JobState.TIMED_OUT.value,
        task_id=None,
        submitted_at=None,
        result_urls="[]",
        error_code="timed_out",
    )
    billed = seed_job(
        world,
        template,
        reserve=False,
        user_id=jade.id,
        state=JobState.FAILED.value,
        result_urls="[]",
        error_code="ProviderError",
        billed_micros=to_micros(Decimal("0.07")),
    )
    elsewhere = seed_job(
        world,
        template,
        reserve=True,
        guild_id=OTHER_SERVER,
        **timed_out_after_acceptance(jade, "0.10"),
    )
    assert (await world.job(elsewhere)).holds_estimate  # held, but not in this server

    assert await staff(world, "wanbot release", {"job": template}) == (
        f"Job #{template} holds nothing: it produced a result, so its cost ($0.10 (estimated)) "
        "is a charge."
    )
    assert await staff(world, "wanbot release", {"job": never_sent}) == (
        f"Job #{never_sent} holds nothing: it was never held. It ended (timed out) without "
        "being billed, and its estimate was released then."
    )
    assert await staff(world, "wanbot release", {"job": billed}) == (
        f"Job #{billed} holds nothing: the provider billed it ($0.07), so that is a charge, "
        "not a hold."
    )
    for job_id in (elsewhere, 987_654_321):
        assert await staff(world, "wanbot release", {"job": job_id}) == (
            f"There is no job #{job_id} on this server. `/usage server` lists the jobs here "
            "whose estimate is held."
        )
    # Nothing was written: the other server's job still holds, no ledger entry was added.
    assert (await world.job(elsewhere)).holds_estimate
    assert ledger(world, elsewhere) == [("reserve", Decimal("0.1"))]
    assert ledger(world, never_sent) == ledger(world, billed) == []


# ---------------------------------------------------------------------------------------------
# /jobs show for a result that could not be posted
# ---------------------------------------------------------------------------------------------


def undelivered_columns(user: User, finished_at: float) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "state": JobState.FAILED.value,
        "finished_at": finished_at,
        "error_code": "delivery_failed",
        "error_message": "The result was made but could not be posted here.",
    }


@pytest.mark.parametrize("viewer", ["owner", "staff"])
async def test_jobs_show_gives_an_unposted_results_links_privately_until_they_expire(
    world: World, template: int, viewer: str
) -> None:
    kim = world.discord.add_user(f"kim-{viewer}", roles=["member"])
    urls = (await world.job(template)).result_urls
    finished = time.time() - 3600
    fresh = seed_job(world, template, reserve=False, **undelivered_columns(kim, finished))
    stale = seed_job(world, template, reserve=False, **undelivered_columns(kim, finished - 2 * DAY))
    who: User | str = kim if viewer == "owner" else "staff"
    channel_before = len(world.discord.messages("general", include_ephemeral=False))

    reply = await reply_of(await world.discord.slash(who, "general", "jobs show", {"job": fresh}))
    assert reply.ephemeral
    [embed] = reply.embeds
    assert embed["title"] == f"{T2V_TITLE} · not posted"
    links = "\n".join(f"[Download {i}]({url})" for i, url in enumerate(urls, start=1))
    assert embed["description"] == (
        f"Job #{fresh} was made but could not be posted. Download it while the links last: "
        f"they expire <t:{int(finished + DAY)}:R>, about a day after it finished.\n{links}\n"
        "The generation itself succeeded and was charged ($0.10 (estimated))."
    )

    reply = await reply_of(await world.discord.slash(who, "general", "jobs show", {"job": stale}))
    assert reply.ephemeral
    [embed] = reply.embeds
    assert embed["description"] == (
        f"Job #{stale} was made but could not be posted. Its download links expired "
        f"<t:{int(finished - 2 * DAY + DAY)}:R> (about a day after it finished), so the result "
        "can't be fetched any more; run the command again to make it anew.\n"
        "The generation itself succeeded and was charged ($0.10 (estimated))."
    )
    assert not any(url in embed["description"] for url in urls)
    # Nothing was posted in the channel for everyone.
    assert len(world.discord.messages("general", include_ephemeral=False)) == channel_before


async def test_jobs_show_keeps_an_unposted_results_links_from_other_members(
    world: World, template: int
) -> None:
    lena = world.discord.add_user("lena", roles=["member"])
    job_id = seed_job(world, template, reserve=False, **undelivered_columns(lena, time.time() - 60))
    urls = (await world.job(job_id)).result_urls
    itx = await world.discord.slash("bob", "general", "jobs show", {"job": job_id})
    reply = await reply_of(itx)
    assert reply.ephemeral
    assert reply.content == f"Job #{job_id} isn't yours."
    assert reply.embeds == []
    assert not any(url in reply.content for url in urls)
