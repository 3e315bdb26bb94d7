"""The buttons on real status, result and notice messages, clicked by members end to end.

Cancel (requester, others, staff; before and after submission), Retry, Vary, Delete and
Animate, Retry on a failure notice, every result button again after a SIGKILL restart, buttons
of jobs that no longer exist, and Retry of an image job whose input files the bot already
deleted (it reads them back from the status message).
"""

from __future__ import annotations

import asyncio
import base64
import re
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from bot.catalog import SEED_MAX
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.simulator import ScriptedFault, SimulatorServer
from bot.simulator.config import SimulatorConfig
from tests.e2e.conftest import SIM_SPEED, World, accept_cost, bot_env, png_bytes
from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig
from tests.emulator.interaction_builder import InteractionRefused
from tests.emulator.messages import StoredMessage, walk_components
from tests.waiting import wait_until

CHANNEL = "general"
MODAL = 9


# --- helpers ----------------------------------------------------------------------------------


def footer(job_id: int, kind: str) -> Callable[[StoredMessage], bool]:
    text = f"wanbot job #{job_id} · {kind}"
    return lambda m: any(e.get("footer", {}).get("text") == text for e in m.embeds)


def field_value(message: StoredMessage, name: str) -> str:
    return next(
        f["value"] for e in message.embeds for f in e.get("fields", []) if f["name"] == name
    )


async def queued_job(itx: Any) -> int:
    """The job id from the member's private "Queued as job #N" answer."""
    reply = await itx.wait_original(lambda m: not m.loading, timeout=15)
    assert reply.ephemeral
    match = re.search(r"Queued as job #(\d+)", reply.content)
    assert match, reply.content
    return int(match.group(1))


Upload = tuple[str, bytes, str]  # filename, bytes, content type


async def generate(
    world: World,
    user: str,
    command: str,
    options: dict[str, Any],
    files: dict[str, Upload] | None = None,
) -> tuple[int, StoredMessage]:
    """Run a command in #general: the job id and its public status message."""
    attachments = {name: world.discord.cdn.add(*file) for name, file in (files or {}).items()}
    itx = await world.discord.slash(user, CHANNEL, command, options, attachments=attachments)
    await itx.response(timeout=15)
    await accept_cost(world, user, itx)  # a dearer choice is asked about first
    job_id = await queued_job(itx)
    status = await world.discord.wait_for_message(CHANNEL, footer(job_id, "status"), timeout=10)
    return job_id, status


async def result_of(world: World, job_id: int) -> StoredMessage:
    result = await world.discord.wait_for_message(CHANNEL, footer(job_id, "result"), timeout=30)
    await world.wait_job(job_id, JobState.DELIVERED)
    return result


async def private_answer(itx: Any) -> str:
    """The text the clicking member alone sees (a reply, or an edited "thinking" message)."""
    response = await itx.response(timeout=5)
    assert response.data["flags"] & 64, response  # ephemeral either way
    if response.type == 4:
        return str(response.data["content"])
    assert response.type == 5, response
    reply = await itx.wait_original(lambda m: not m.loading, timeout=15)
    assert reply.ephemeral
    return reply.content


async def until(world: World, job_id: int, check: Callable[[Job], bool], within: float = 20) -> Job:
    return await wait_until(
        lambda: world.job(job_id),
        done=check,
        timeout=within,
        interval=0.1,
        message=f"job #{job_id} to get there",
    )


async def create_body(world: World, job_id: int) -> dict[str, Any]:
    """The body of the create request the provider accepted for ``job_id``."""
    job = await until(world, job_id, lambda j: j.task_id is not None)
    [create] = [r for r in world.creates() if r.task_id == job.task_id]
    assert create.status == 202
    return dict(create.body)


def image_of(body: dict[str, Any]) -> bytes:
    header, _, payload = body["image"].partition(",")
    assert header.startswith("data:image/")
    return base64.b64decode(payload)


async def ledger(world: World, job_id: int) -> list[tuple[str, Decimal]]:
    """The job's ledger entries: (entry, amount)."""
    return await world.ledger(job_id)


async def wait_buttonless(world: World, message: StoredMessage) -> StoredMessage:
    return await world.discord.wait_for_message(
        CHANNEL, lambda m: m.id == message.id and m.custom_ids == [], timeout=10
    )


def text_input_id(modal: dict[str, Any]) -> str:
    [field] = [c for c in walk_components(modal["components"]) if c.get("type") == 4]
    return str(field["custom_id"])


@pytest.fixture
def slow_t2v(world: World) -> Iterator[None]:
    """wan2.2-t2v-plus takes ~20 s at the test speed, so a job stays running while clicked."""
    usual = world.sim.state.config.base_duration("wan2.2-t2v-plus")
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 4000.0}})
    yield
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": usual}})


# --- Cancel -----------------------------------------------------------------------------------


async def test_requester_cancels_before_submission_and_nothing_is_charged(world: World) -> None:
    # The provider says "busy" three times: the job goes back to waiting (30 s) unsubmitted.
    world.sim.state.push_faults(
        ScriptedFault(kind="rate_limit", target="create", count=3, retry_after=0)
    )
    tasks_before = len(world.sim.state.tasks)
    creates_before = len(world.creates())
    job_id, status = await generate(world, "alice", "wan-t2v", {"prompt": "a quiet harbour"})
    await until(world, job_id, lambda j: j.state is JobState.CREATED and j.submit_attempts == 1)

    itx = await world.discord.click("alice", status, f"wan:cancel:{job_id}")

    assert await private_answer(itx) == (
        f"Cancelled job #{job_id} before it was sent. Nothing was charged."
    )
    job = await world.wait_job(job_id, JobState.CANCELLED)
    assert job.task_id is None
    entries = await ledger(world, job_id)
    assert [entry for entry, _ in entries] == ["reserve", "release"]
    assert sum(amount for _, amount in entries) == 0
    assert [r.status for r in world.creates()[creates_before:]] == [429, 429, 429]
    assert len(world.sim.state.tasks) == tasks_before  # nothing was ever accepted upstream
    notice = await world.discord.wait_for_message(CHANNEL, footer(job_id, "notice"))
    assert field_value(notice, "Cost") == "Nothing was charged."
    assert notice.custom_ids == []  # a cancelled job offers no Retry
    status = await wait_buttonless(world, status)
    assert "Cancelled" in field_value(status, "State")


@pytest.mark.usefixtures("slow_t2v")
async def test_others_cannot_cancel_a_running_job_but_staff_can(world: World) -> None:
    job_id, status = await generate(world, "alice", "wan-t2v", {"prompt": "storm over dunes"})
    await world.wait_job(job_id, JobState.RUNNING)

    bob = await world.discord.click("bob", status, f"wan:cancel:{job_id}")
    assert await private_answer(bob) == (
        "Only the member who asked, or someone with Manage Messages, can cancel this."
    )
    assert (await world.job(job_id)).state is JobState.RUNNING
    assert world.discord.message(status.id).custom_ids == [f"wan:cancel:{job_id}"]

    staff = await world.discord.click("staff", status, f"wan:cancel:{job_id}")
    assert await private_answer(staff) == (
        f"Cancelled job #{job_id}. It was already running at the provider, which still bills "
        "it, so the estimate stays charged."
    )
    job = await world.wait_job(job_id, JobState.CANCELLED)
    entries = await ledger(world, job_id)
    assert [entry for entry, _ in entries] == ["reserve", "settle"]
    assert sum(amount for _, amount in entries) == job.estimated_cost
    await wait_buttonless(world, status)
    notice = await world.discord.wait_for_message(CHANNEL, footer(job_id, "notice"))
    assert "which still bills it" in field_value(notice, "Cost")


@pytest.mark.usefixtures("slow_t2v")
async def test_requester_cancels_a_running_job_which_still_bills(world: World) -> None:
    job_id, status = await generate(world, "bob", "wan-t2v", {"prompt": "a lighthouse at dusk"})
    await world.wait_job(job_id, JobState.RUNNING)
    itx = await world.discord.click("bob", status, f"wan:cancel:{job_id}")
    text = await private_answer(itx)
    assert text.startswith(f"Cancelled job #{job_id}. It was already running")
    assert "still bills it" in text
    await world.wait_job(job_id, JobState.CANCELLED)
    await wait_buttonless(world, status)
    with pytest.raises(InteractionRefused, match="no component"):  # the button is gone
        await world.discord.click("bob", status, f"wan:cancel:{job_id}")


# --- Retry, Vary, Delete, Animate on results ------------------------------------------------


async def test_retry_repeats_the_exact_request_and_the_cancel_button_goes_away(
    world: World,
) -> None:
    job_id, status = await generate(
        world, "alice", "wan-t2v", {"prompt": "koi in a pond", "size": "832*480", "seed": 1234}
    )
    result = await result_of(world, job_id)
    # The status message offered Cancel while the job ran, and lost it when the job ended.
    first_version = status.history[0] if status.history else status.data
    assert [
        c.get("custom_id")
        for c in walk_components(first_version["components"])
        if c.get("type") == 2
    ] == [f"wan:cancel:{job_id}"]
    # Its last edit (queued with the channel's writer) shows Done, without buttons.
    status = await world.discord.wait_for_message(
        CHANNEL,
        lambda m: m.id == status.id and m.custom_ids == [] and "Done" in field_value(m, "State"),
        timeout=10,
    )
    assert result.custom_ids == [
        f"wan:retry:{job_id}",
        f"wan:vary:{job_id}",
        f"wan:delete:{job_id}",
        f"wan:extend:{job_id}",
    ]

    itx = await world.discord.click("alice", result, f"wan:retry:{job_id}")
    retry_id = await queued_job(itx)

    assert retry_id != job_id
    original, retried = await world.job(job_id), await world.job(retry_id)
    assert retried.parent_job_id == job_id
    assert retried.request == original.request
    assert (
        await create_body(world, retry_id)
        == await create_body(world, job_id)
        == {
            "prompt": "koi in a pond",
            "size": "832*480",
            "duration": 5,
            "prompt_extend": True,
            "seed": 1234,
        }
    )
    await result_of(world, retry_id)


async def test_vary_keeps_the_settings_with_a_new_seed(world: World) -> None:
    job_id, _ = await generate(
        world, "bob", "wan-t2v", {"prompt": "paper lanterns", "prompt_extend": False, "seed": 77}
    )
    result = await result_of(world, job_id)

    itx = await world.discord.click("bob", result, f"wan:vary:{job_id}")
    vary_id = await queued_job(itx)

    assert (await world.job(vary_id)).parent_job_id == job_id
    before, after = await create_body(world, job_id), await create_body(world, vary_id)
    assert after.pop("seed") != before.pop("seed")
    assert (
        after
        == before
        == {"prompt": "paper lanterns", "size": "832*480", "duration": 5, "prompt_extend": False}
    )
    varied = await result_of(world, vary_id)
    assert 0 <= int(field_value(varied, "Seed")) <= SEED_MAX


async def test_delete_is_for_the_requester_or_staff(world: World) -> None:
    first, _ = await generate(world, "alice", "wan-t2v", {"prompt": "a red kite"})
    second, _ = await generate(world, "alice", "wan-t2v", {"prompt": "a blue kite"})
    first_result, second_result = await result_of(world, first), await result_of(world, second)

    bob = await world.discord.click("bob", first_result, f"wan:delete:{first}")
    assert await private_answer(bob) == (
        "Only the member who asked, or someone with Manage Messages, can delete this."
    )
    assert not world.discord.message(first_result.id).deleted

    alice = await world.discord.click("alice", first_result, f"wan:delete:{first}")
    assert await private_answer(alice) == f"Deleted the result of job #{first}."
    assert world.discord.message(first_result.id).deleted

    staff = await world.discord.click("staff", second_result, f"wan:delete:{second}")
    assert await private_answer(staff) == f"Deleted the result of job #{second}."
    assert world.discord.message(second_result.id).deleted
    # Deleting the post leaves the job itself as it was.
    assert (await world.job(first)).state is JobState.DELIVERED


async def animate(
    world: World, user: str, result: StoredMessage, job_id: int, index: int, motion: str
) -> int:
    click = await world.discord.click(user, result, f"wan:animate:{job_id}:{index}")
    response = await click.response()
    assert response.type == MODAL
    assert response.data["title"] == "Animate this image"
    submit = await world.discord.submit_modal(user, click, {text_input_id(response.data): motion})
    return await queued_job(submit)


async def test_animate_turns_the_chosen_result_image_into_a_flash_video(world: World) -> None:
    photo = png_bytes(512, 512, colour=(150, 90, 200))
    job_id, _ = await generate(
        world,
        "alice",
        "wan-i2i",
        {"prompt": "add snow", "n": 2},
        {"image": ("garden.png", photo, "image/png")},
    )
    result = await result_of(world, job_id)
    assert [a["filename"].endswith(".png") for a in result.attachments] == [True, True]
    assert result.custom_ids[3:] == [f"wan:animate:{job_id}:0", f"wan:animate:{job_id}:1"]

    video_id = await animate(world, "alice", result, job_id, 1, "the snow starts to fall")

    video = await world.job(video_id)
    assert video.model_id == "wan2.2-i2v-flash"
    assert video.parent_job_id == job_id
    body = await create_body(world, video_id)
    assert body["prompt"] == "the snow starts to fall"
    assert image_of(body) == world.discord.attachment_bytes(result.attachments[1])
    assert image_of(body) != world.discord.attachment_bytes(result.attachments[0])
    posted = await result_of(world, video_id)
    assert posted.attachments[0]["filename"].endswith(".mp4")


# --- Retry on a failure notice ------------------------------------------------------------


async def test_retry_on_a_failure_notice_runs_the_request_again(world: World) -> None:
    usual = world.sim.state.config.failure_rate
    world.sim.state.patch_config({"failure_rate": 1.0})  # the next task fails upstream
    try:
        job_id, _ = await generate(world, "bob", "wan-t2v", {"prompt": "a glass city", "seed": 9})
        failed = await world.wait_job(job_id, JobState.FAILED)
    finally:
        world.sim.state.patch_config({"failure_rate": usual})
    notice = await world.discord.wait_for_message(CHANNEL, footer(job_id, "notice"), timeout=15)
    assert notice.custom_ids == [f"wan:retry:{job_id}"]
    assert field_value(notice, "Why") == failed.error_message
    assert field_value(notice, "Cost") == "Nothing was charged."

    itx = await world.discord.click("bob", notice, f"wan:retry:{job_id}")
    retry_id = await queued_job(itx)

    assert (await world.job(retry_id)).parent_job_id == job_id
    assert await create_body(world, retry_id) == await create_body(world, job_id)
    await result_of(world, retry_id)


# --- Retry of an image job whose inputs are gone from disk ----------------------------------


async def test_retry_of_an_image_job_reads_its_inputs_back_from_the_status_message(
    world: World,
) -> None:
    frame = png_bytes(720, 480, colour=(13, 57, 101))
    job_id, status = await generate(
        world,
        "alice",
        "wan-i2v-flash",
        {"prompt": "waves roll in", "seed": 31},
        {"image": ("beach.png", frame, "image/png")},
    )
    result = await result_of(world, job_id)
    job = await world.job(job_id)
    sha = job.request["image"].removeprefix("input:")
    assert not (world.folder / "media" / "inputs" / sha[:2] / sha).exists()  # deleted
    [attachment] = status.attachments
    assert attachment["filename"] == "input-image-1.png"
    assert world.discord.attachment_bytes(attachment) == frame
    downloads = len(world.discord.cdn.downloads)

    itx = await world.discord.click("alice", result, f"wan:retry:{job_id}")
    retry_id = await queued_job(itx)

    assert any(
        path.endswith(f"/{attachment['id']}/input-image-1.png")
        for path in world.discord.cdn.downloads[downloads:]
    )
    body = await create_body(world, retry_id)
    assert body == await create_body(world, job_id)
    assert image_of(body) == frame
    await result_of(world, retry_id)


# --- After a restart --------------------------------------------------------------------------


async def test_result_buttons_work_after_a_sigkill_restart(world: World) -> None:
    video_id, _ = await generate(world, "alice", "wan-t2v", {"prompt": "fireflies", "seed": 5})
    image_id, _ = await generate(
        world,
        "bob",
        "wan-i2i",
        {"prompt": "make it night"},
        {"image": ("street.png", png_bytes(600, 400), "image/png")},
    )
    video, image = await result_of(world, video_id), await result_of(world, image_id)

    await world.restart(kill=True)  # the clicks below reach a process that never saw them

    retry_id = await queued_job(await world.discord.click("alice", video, f"wan:retry:{video_id}"))
    vary_id = await queued_job(await world.discord.click("alice", video, f"wan:vary:{video_id}"))
    animate_id = await animate(world, "bob", image, image_id, 0, "street lights flicker on")
    original = await create_body(world, video_id)
    assert await create_body(world, retry_id) == original
    varied = await create_body(world, vary_id)
    assert varied.pop("seed") != original.pop("seed")
    assert varied == original
    assert image_of(await create_body(world, animate_id)) == world.discord.attachment_bytes(
        image.attachments[0]
    )
    for new_id in (retry_id, vary_id, animate_id):
        await result_of(world, new_id)

    delete = await world.discord.click("alice", video, f"wan:delete:{video_id}")
    assert await private_answer(delete) == f"Deleted the result of job #{video_id}."
    assert world.discord.message(video.id).deleted


# --- Jobs that no longer exist ----------------------------------------------------------------
#
# Discord only sends clicks for buttons a message really has (and discord.py drops any other),
# so "a job that no longer exists" is a real message whose job row is gone: deleted here with a
# plain sqlite3 connection while the bot is idle, as an operator's purge would. Jobs have no
# AUTOINCREMENT, so the next job would reuse a purged top id (and its footer marker): this is
# the last test of the module that makes jobs.


async def purge_job(world: World, job_id: int) -> None:
    db = sqlite3.connect(world.db_path, timeout=10)  # foreign keys off, as in the sqlite3 shell
    try:
        with db:
            db.execute("DELETE FROM job_inputs WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    finally:
        db.close()
    with pytest.raises(AssertionError, match="no job"):
        await world.job(job_id)


async def test_buttons_of_purged_jobs_explain_instead_of_failing(world: World) -> None:
    image_id, _ = await generate(
        world,
        "bob",
        "wan-i2i",
        {"prompt": "an old postcard"},
        {"image": ("card.png", png_bytes(480, 480), "image/png")},
    )
    result = await result_of(world, image_id)
    assert result.custom_ids == [
        f"wan:retry:{image_id}",
        f"wan:vary:{image_id}",
        f"wan:delete:{image_id}",
        f"wan:animate:{image_id}:0",
    ]
    # A second job held before submission ("busy" upstream), so its Cancel is still offered.
    world.sim.state.push_faults(
        ScriptedFault(kind="rate_limit", target="create", count=3, retry_after=0)
    )
    waiting_id, status = await generate(world, "staff", "wan-t2v", {"prompt": "a waiting room"})
    await until(world, waiting_id, lambda j: j.state is JobState.CREATED and j.submit_attempts == 1)
    await purge_job(world, image_id)
    await purge_job(world, waiting_id)
    requests = len(world.sim.state.requests)

    gone = "no longer exists, so there is nothing to do here."
    for action in ("retry", "vary", "delete"):
        itx = await world.discord.click("bob", result, f"wan:{action}:{image_id}")
        assert await private_answer(itx) == f"Job #{image_id} {gone}", action
    itx = await world.discord.click("bob", result, f"wan:animate:{image_id}:0")
    assert await private_answer(itx) == (
        f"Job #{image_id} no longer exists, so there is nothing to animate."
    )  # an answer, not a modal
    itx = await world.discord.click("staff", status, f"wan:cancel:{waiting_id}")
    assert await private_answer(itx) == f"Job #{waiting_id} {gone}"

    assert not world.discord.message(result.id).deleted
    assert len(world.sim.state.requests) == requests  # nothing was sent anywhere


# --- Regression: another connection holding the write lock ----------------------------------
#
# Found while writing these tests (and fixed meanwhile in 38a4184): Store transactions began
# with a deferred BEGIN and read before writing; SQLite runs no busy handler when a read
# transaction must become a write, so while another connection held the write lock they failed
# at once with "database is locked" instead of waiting BUSY_TIMEOUT_MS: a member's Cancel
# answered "Something went wrong", a finished job stayed "running", a posted result stayed
# "delivering". Every transaction now starts with BEGIN IMMEDIATE.


async def test_cancel_waits_for_another_connection_holding_the_write_lock(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A second connection holding the write lock for a moment (a maintenance script, another
    ``Store`` running a migration) must only delay a member's Cancel, not break it.

    Runs its own bot: the failure logs an ERROR that would fail the shared world's log check.
    """
    folder = tmp_path_factory.mktemp("lock")
    db_path = folder / "wanbot.sqlite3"
    async with (
        DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=1000)) as discord,
        SimulatorServer(SimulatorConfig(speed=SIM_SPEED, seed=7)) as sim,
    ):
        bot = BotProcess(discord, env=bot_env(folder, sim))
        await bot.start()
        try:
            await discord.wait_ready(30, commands=True)
            sim.state.push_faults(
                ScriptedFault(kind="rate_limit", target="create", count=3, retry_after=0)
            )
            itx = await discord.slash("alice", "general", "wan-t2v", {"prompt": "a locked door"})
            job_id = await queued_job(itx)
            status = await discord.wait_for_message(CHANNEL, footer(job_id, "status"))
            await wait_until(
                lambda: _row(db_path, job_id),
                done=lambda row: row == ("created", 1),
                timeout=15,
                message="the job to wait",
            )
            other = sqlite3.connect(db_path, timeout=10, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # hold the write lock for half a second
                click = await discord.click("alice", status, f"wan:cancel:{job_id}")
                assert (await click.response()).type == 5  # deferred: the cancel runs now
                await asyncio.sleep(0.5)
            finally:
                other.execute("COMMIT")
                other.close()
            answer = await click.wait_original(lambda m: not m.loading, timeout=15)
            assert answer.content == (
                f"Cancelled job #{job_id} before it was sent. Nothing was charged."
            )
            assert _row(db_path, job_id)[0] == "cancelled"
            assert [line for line in bot.lines if " ERROR " in line or "Traceback" in line] == []
        finally:
            await bot.stop()


def _row(db_path: Any, job_id: int) -> tuple[str, int]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        state, attempts = db.execute(
            "SELECT state, submit_attempts FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    finally:
        db.close()
    return str(state), int(attempts)
