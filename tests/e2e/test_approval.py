"""Staff approval end to end: jobs above the server's threshold wait for Approve or Deny.

``/wanbot approval above:0.20`` with the audit channel set: a $0.50 job waits (reserved, never
sent) while a request with the member, prompt, estimate and persistent buttons sits in the
audit channel. Approve sends it; Deny or no decision in time releases it and tells the member;
members who are not staff cannot decide; a request posted before a restart works after it; an
exempt role never waits. Every decision is audited.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from bot.jobs.states import JobState
from tests.e2e.conftest import World, accept_cost, ephemeral_text, png_bytes, reply_of
from tests.e2e.test_server_settings import _sent, announced
from tests.emulator.messages import StoredMessage
from tests.emulator.models import User
from tests.waiting import wait_until

DEAR = {"size": "1920*1080"}  # $0.50: above the threshold
CHEAP = {"size": "832*480"}  # $0.10: below it


async def staff(world: World, subcommand: str, options: dict[str, Any] | None = None) -> str:
    return await ephemeral_text(world, "staff", "general", f"wanbot {subcommand}", options)


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def approval_above_twenty_cents(world: World) -> AsyncIterator[None]:
    await staff(world, "audit-channel", {"channel": "audit"})
    await staff(world, "approval", {"above": "0.20", "expire-hours": 24})
    yield
    await staff(world, "approval", {"above": "none"})
    await staff(world, "audit-channel")


async def submit(
    world: World,
    user: User,
    prompt: str,
    size: dict[str, str],
    *,
    command: str = "wan-t2v",
    attachments: dict[str, Any] | None = None,
) -> tuple[int, str]:
    itx = await world.discord.slash(
        user, "general", command, {"prompt": prompt, **size}, attachments=attachments
    )
    await itx.response(timeout=15)
    await accept_cost(world, user, itx)
    reply = await reply_of(itx, within=15)
    match = re.search(r"[Jj]ob #(\d+)", reply.content)
    assert match is not None, reply.content
    return int(match.group(1)), reply.content


def footer(message: StoredMessage) -> str:
    return next((e.get("footer", {}).get("text", "") for e in message.embeds), "")


def fields(message: StoredMessage) -> dict[str, str]:
    [embed] = message.embeds
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def request_of(world: World, job_id: int) -> StoredMessage:
    return await world.discord.wait_for_message(
        "audit", lambda m: footer(m) == f"wanbot job #{job_id} · approval", timeout=15
    )


async def audit_titled(world: World, title: str, job_id: int) -> StoredMessage:
    return await world.discord.wait_for_message(
        "audit",
        lambda m: (
            bool(m.embeds)
            and m.embeds[0].get("title") == title
            and f"job #{job_id}" in str(m.embeds[0])
        ),
        timeout=15,
    )


async def click(world: World, user: str | User, message: StoredMessage, label: str) -> str:
    [button] = [b for b in message.buttons if b.get("label") == label]
    itx = await world.discord.click(user, message, button["custom_id"])
    reply = await reply_of(itx, within=15)
    assert reply.ephemeral
    return reply.content


async def test_staff_approve_and_only_staff_may(world: World) -> None:
    una = world.discord.add_user("una", roles=["member"])
    job_id, text = await submit(world, una, "a castle in the rain", DEAR)
    assert text.startswith(
        f"Job #{job_id} is waiting for staff approval: its estimate ($0.50) is above this "
        "server's $0.20 threshold."
    )
    job = await world.job(job_id)
    assert job.state is JobState.AWAITING_APPROVAL
    assert [entry for entry, _ in await world.ledger(job_id)] == ["reserve"]
    request = await request_of(world, job_id)
    shown = fields(request)
    assert shown["Requested by"] == f"<@{una.id}>"
    assert shown["Estimate"] == "$0.50"
    assert "a castle in the rain" in request.embeds[0]["description"]
    assert [b.get("label") for b in request.buttons] == ["Approve", "Deny"]
    creates = len(world.creates())

    # A member who is not staff cannot decide, not even on their own job.
    for who in ("alice", una):
        assert await click(world, who, request, "Approve") == (
            "Only server staff (Manage Server) can approve or deny requests."
        )
    assert (await world.job(job_id)).state is JobState.AWAITING_APPROVAL
    assert len(world.creates()) == creates

    answer = await click(world, "staff", request, "Approve")
    assert answer.startswith(f"Approved job #{job_id}")
    await world.wait_job(job_id, JobState.DELIVERED, within=30)
    assert len(world.creates()) == creates + 1
    staff_id = world.discord.users["staff"].id
    closed = await world.discord.wait_for_message(
        "audit", lambda m: m.id == request.id and not m.buttons, timeout=10
    )
    assert fields(closed)["Decision"] == f"Approved by <@{staff_id}>."
    audit = await audit_titled(world, "Generation approved", job_id)
    assert f"<@{staff_id}>" in str(audit.embeds[0])
    assert (await world.job(job_id)).decided_by == staff_id


async def test_deny_releases_and_tells_the_member(world: World) -> None:
    vic = world.discord.add_user("vic", roles=["member"])
    job_id, _ = await submit(world, vic, "an expensive parade", DEAR)
    request = await request_of(world, job_id)
    answer = await click(world, "staff", request, "Deny")
    assert answer == f"Denied job #{job_id}: its reservation was released and the member told."
    job = await world.wait_job(job_id, JobState.CANCELLED)
    assert job.error_code == "approval_denied"
    assert [entry for entry, _ in await world.ledger(job_id)] == ["reserve", "release"]
    notice = await world.discord.wait_for_message(
        "general", lambda m: footer(m) == f"wanbot job #{job_id} · notice", timeout=15
    )
    assert notice.embeds[0]["title"].startswith("Not approved by the server staff")
    assert fields(notice)["Cost"] == "Nothing was charged."
    await audit_titled(world, "Generation denied", job_id)
    closed = await world.discord.wait_for_message(
        "audit", lambda m: m.id == request.id and not m.buttons, timeout=10
    )
    staff_id = world.discord.users["staff"].id
    assert fields(closed)["Decision"] == f"Denied by <@{staff_id}>. Nothing was charged."


async def test_no_decision_in_time_lapses(world: World) -> None:
    await staff(world, "approval", {"expire-hours": 0.001})  # 3.6 s
    wes = world.discord.add_user("wes", roles=["member"])
    job_id, text = await submit(world, wes, "nobody looks", DEAR)
    assert "within 0.001 hour(s) it lapses" in text
    request = await request_of(world, job_id)
    job = await world.wait_job(job_id, JobState.CANCELLED, within=30)
    assert job.error_code == "approval_expired"
    assert [entry for entry, _ in await world.ledger(job_id)] == ["reserve", "release"]
    notice = await world.discord.wait_for_message(
        "general", lambda m: footer(m) == f"wanbot job #{job_id} · notice", timeout=15
    )
    assert notice.embeds[0]["title"].startswith("No staff decision in time")
    await audit_titled(world, "Approval lapsed", job_id)
    closed = await world.discord.wait_for_message(
        "audit", lambda m: m.id == request.id and not m.buttons, timeout=10
    )
    assert fields(closed)["Decision"].startswith("Lapsed")
    await staff(world, "approval", {"expire-hours": 24})


async def test_a_request_with_its_image_survives_a_restart(world: World) -> None:
    """The request shows the input image; the image is kept (and sent) across a restart."""
    xan = world.discord.add_user("xan", roles=["member"])
    photo = png_bytes(640, 480, colour=(200, 60, 30))
    attachment = world.discord.cdn.add("harbour.png", photo, "image/png")
    job_id, text = await submit(
        world, xan, "across a restart", {}, command="wan-i2v", attachments={"image": attachment}
    )
    assert "waiting for staff approval: its estimate ($0.50)" in text
    request = await request_of(world, job_id)
    [shown] = request.attachments
    assert shown["filename"] == "input-image-1.png"  # as on the status message
    assert shown["content_type"] == "image/png"
    await wait_until(
        lambda: world.job(job_id),
        done=lambda job: job.status_message_id is not None,
        timeout=10,
        message="the status message to be recorded",
    )

    await world.restart()  # SIGKILL while it waits

    assert (await world.job(job_id)).state is JobState.AWAITING_APPROVAL
    answer = await click(world, "staff", request, "Approve")
    assert answer.startswith(f"Approved job #{job_id}")
    job = await world.wait_job(job_id, JobState.DELIVERED, within=30)
    [create] = [c for c in world.creates() if c.task_id == job.task_id]
    assert str(create.body["image"]).startswith("data:image/png;base64,")


async def test_a_threshold_that_is_not_an_amount_is_refused_saying_what_to_write(
    world: World,
) -> None:
    assert await staff(world, "approval", {"above": "lots"}) == (
        "'lots' isn't an amount: write dollars like 0.50 (jobs estimated above it wait for "
        "staff), or none for no approval."
    )
    assert "**Approval:** staff approve jobs above $0.20" in await staff(world, "show")


async def test_cheap_jobs_and_exempt_roles_do_not_wait(world: World) -> None:
    yan = world.discord.add_user("yan", roles=["member"])
    cheap, text = await submit(world, yan, "below the threshold", CHEAP)
    assert text.startswith(f"Queued as job #{cheap}")
    before = _sent(world, "GUILD_ROLE_CREATE")
    trusted = world.discord.guild.add_role("trusted")
    await announced(world, "GUILD_ROLE_CREATE", before)
    zoe = world.discord.add_user("zoe", roles=["member", trusted])
    answer = await staff(world, "approval", {"role-exempt": trusted.name})
    assert f"exempt: <@&{trusted.id}>" in answer
    dear, text = await submit(world, zoe, "trusted and dear", DEAR)
    assert text.startswith(f"Queued as job #{dear}")
    await world.wait_job(dear, JobState.DELIVERED, within=30)
    await staff(world, "approval", {"role-exempt": trusted.name})  # given again: removed
