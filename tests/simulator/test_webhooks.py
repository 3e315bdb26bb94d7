"""The simulator's webhook sender: signed events as tasks are created and finish, and its faults.

A small receiver on loopback plays the bot: it records every delivery and verifies it with the
``standardwebhooks`` library; the simulator runs fast (speed 200) and seeded.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bot.simulator import (
    SimulatorConfig,
    SimulatorServer,
    add_simulator_arguments,
    config_from_args,
)
from tests.simulator.test_providers import VTRIX, mule_create, mule_until_done, vtrix_body
from tests.waiting import wait_until
from tests.webhooks.support import SECRET

pytestmark = pytest.mark.timeout(30)

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]
T2V_BODY = {"prompt": "a lighthouse", "size": "832*480"}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def verified(self) -> bool:
        try:
            Webhook(SECRET).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer with, then 200

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        return web.Response(status=self.answers.pop(0) if self.answers else 200)

    def of(self, task_id: str) -> list[Received]:
        return [
            r for r in self.received if r.event["data"]["payload"]["task_info"]["id"] == task_id
        ]

    async def wait(self, count: int, task_id: str) -> list[Received]:
        return await wait_until(
            lambda: self.of(task_id),
            done=lambda found: len(found) >= count,
            timeout=10,
            interval=0.01,
            message=f"{count} webhooks about task {task_id}",
        )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield found
    await runner.cleanup()


async def hooked(make: MakeSimulator, receiver: Receiver, **faults: Any) -> SimulatorServer:
    return await make(webhook_url=receiver.url, webhook_secret=SECRET, **faults)


async def test_created_then_finished_events_signed_with_the_poll_answers_shape(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await hooked(make_simulator, receiver)
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    created, finished = await receiver.wait(2, task_id)
    _, polled = await mule_until_done(sim_session, sim, "wan2.2-t2v-plus", task_id)

    assert [created.event["type"], finished.event["type"]] == ["task.created", "task.succeeded"]
    assert created.verified
    assert finished.verified
    assert created.headers["webhook-id"] == created.event["id"] != finished.event["id"]
    assert created.event["data"]["vendor"] == "alibaba"
    assert created.event["data"]["model_name"] == "wan2.2-t2v-plus"
    assert created.event["data"]["payload"]["task_info"]["status"] in ("pending", "queued")
    payload = finished.event["data"]["payload"]
    assert payload["videos"] == polled["videos"]
    assert payload["task_info"]["status"] == polled["task_info"]["status"]
    task = sim.state.describe_task(sim.state.tasks[task_id])
    assert task["pushed_at_monotonic"] >= task["finishes_at_monotonic"]
    deliveries = sim.state.webhooks.deliveries
    assert [d.status for d in deliveries] == [200, 200]


async def test_a_failed_task_sends_task_failed_with_its_error(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await hooked(make_simulator, receiver, failure_rate=1.0)
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    _, finished = await receiver.wait(2, task_id)
    assert finished.event["type"] == "task.failed"
    payload = finished.event["data"]["payload"]
    error = payload.get("error") or payload["task_info"]["error"]
    assert str(error.get("code", error.get("error_code"))).startswith("300")


async def test_vtrix_tasks_send_nothing(
    make_simulator: MakeSimulator,
    receiver: Receiver,
    sim_session: aiohttp.ClientSession,
    png_data_uri: Callable[[int, int], str],
) -> None:
    sim = await hooked(make_simulator, receiver)
    body = vtrix_body(png_data_uri(400, 400))
    async with sim_session.post(sim.base_url + "/model/v1/generation", json=body, headers=VTRIX):
        pass
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    await receiver.wait(2, task_id)
    assert len(receiver.received) == 2  # only the MuleRouter task's


async def test_drop_sends_nothing(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await hooked(make_simulator, receiver, webhook_drop_rate=1.0)
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    await mule_until_done(sim_session, sim, "wan2.2-t2v-plus", task_id)
    await wait_until(
        lambda: len(sim.state.webhooks), done=lambda n: n == 0, timeout=5, message="queue empty"
    )
    assert receiver.received == []
    assert len(sim.state.webhooks.dropped) == 2


async def test_duplicate_sends_each_event_twice_with_one_id(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await hooked(make_simulator, receiver, webhook_duplicate_rate=1.0)
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    got = await receiver.wait(4, task_id)
    ids = [r.event["id"] for r in got]
    assert len(set(ids)) == 2
    assert sorted(ids.count(i) for i in set(ids)) == [2, 2]


async def test_delay_sends_late(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await hooked(make_simulator, receiver, webhook_delay_rate=1.0, webhook_delay_seconds=0.5)
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    await receiver.wait(2, task_id)
    task = sim.state.tasks[task_id]
    created, finished = sim.state.webhooks.deliveries
    assert created.at >= task.created_mono + 0.5
    assert finished.at >= task.finishes_at + 0.5


async def test_out_of_order_sends_task_created_last(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await hooked(make_simulator, receiver, webhook_out_of_order_rate=1.0)
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    got = await receiver.wait(2, task_id)
    assert [r.event["type"] for r in got] == ["task.succeeded", "task.created"]


async def test_bad_signature_is_refused_by_a_verifier_and_not_sent_again(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await hooked(make_simulator, receiver, webhook_bad_signature_rate=1.0)
    receiver.answers = [401, 401]
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    got = await receiver.wait(2, task_id)
    await mule_until_done(sim_session, sim, "wan2.2-t2v-plus", task_id)
    assert [r.verified for r in got] == [False, False]
    assert len(receiver.received) == 2  # a 4xx is final
    assert sim.state.tasks[task_id].pushed_at is None


async def test_unanswered_or_5xx_deliveries_are_tried_again_with_the_same_id(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await hooked(make_simulator, receiver, webhook_retry_seconds=0.01)
    receiver.answers = [503, 500]
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    got = await receiver.wait(4, task_id)
    statuses = [d.status for d in sim.state.webhooks.deliveries]
    assert statuses[:3] == [503, 500, 200]
    created_ids = [r.event["id"] for r in got if r.event["type"] == "task.created"]
    assert len(created_ids) == 3
    assert len(set(created_ids)) == 1
    assert all(r.verified for r in got)


async def test_webhooks_can_be_turned_on_at_run_time_and_the_secret_is_not_shown(
    make_simulator: MakeSimulator, receiver: Receiver, sim_session: aiohttp.ClientSession
) -> None:
    sim = await make_simulator()
    changes = {"webhook_url": receiver.url, "webhook_secret": SECRET}
    async with sim_session.post(sim.base_url + "/_sim/config", json=changes) as answer:
        assert answer.status == 200
        assert SECRET not in await answer.text()
    task_id = await mule_create(sim_session, sim, "wan2.2-t2v-plus", T2V_BODY)
    await receiver.wait(2, task_id)
    async with sim_session.get(sim.base_url + "/_sim/webhooks") as answer:
        listed = await answer.json()
    assert [d["status"] for d in listed["deliveries"]] == [200, 200]
    assert listed["dropped"] == []


def test_a_url_needs_a_secret() -> None:
    with pytest.raises(ValidationError, match="webhook_secret"):
        SimulatorConfig(webhook_url="http://127.0.0.1:1/hook")


def test_command_line_options() -> None:
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    args = parser.parse_args(
        [
            *("--webhook-url", "http://127.0.0.1:9/h", "--webhook-secret", SECRET),
            *("--webhook-drop-rate", "0.1", "--webhook-duplicate-rate", "0.2"),
            *("--webhook-delay-rate", "0.3", "--webhook-delay-seconds", "4"),
            *("--webhook-out-of-order-rate", "0.4", "--webhook-bad-signature-rate", "0.5"),
        ]
    )
    config = config_from_args(args)
    assert (config.webhook_url, config.webhook_secret) == ("http://127.0.0.1:9/h", SECRET)
    assert (config.webhook_drop_rate, config.webhook_duplicate_rate) == (0.1, 0.2)
    assert (config.webhook_delay_rate, config.webhook_delay_seconds) == (0.3, 4.0)
    assert (config.webhook_out_of_order_rate, config.webhook_bad_signature_rate) == (0.4, 0.5)
    with pytest.raises(SystemExit, match="--webhook-secret"):
        config_from_args(parser.parse_args(["--webhook-url", "http://127.0.0.1:9/h"]))
