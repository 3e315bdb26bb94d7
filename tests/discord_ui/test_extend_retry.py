"""Retry of an extension rebuilds its order with the extracted last frame as its input image:
from the bot's own copy while it has one, else (end to end in tests/e2e/test_extend.py) from
the extension's status message; neither left, the member is told, nothing is guessed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import bot.simulator
from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.generation import order_from_job
from bot.jobs.inputs import InputFiles
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.media import last_frame
from bot.orders import InputImage
from tests.records import make_job

SAMPLE = (Path(bot.simulator.__file__).parent / "assets" / "sample.mp4").read_bytes()


@dataclasses.dataclass
class Inputs:
    """The engine's input stash as order_from_job reads it: ``input:<sha256>`` → bytes."""

    files: InputFiles

    def read(self, reference: str) -> bytes:
        return self.files.read(reference.removeprefix("input:"))


def extension(sha: str, **changes: Any) -> Job:
    """A delivered wan2.6-i2v job made by Extend from job #11, as the store keeps it."""
    request = {
        "prompt": "the boat drifts under a bridge",
        "image": f"input:{sha}",
        "resolution": "720P",
        "duration": 5,
        "prompt_extend": True,
        "shot_type": "single",
        "audio": True,
        "safety_filter": True,
    }
    return make_job(
        model_id="wan2.6-i2v",
        request=request,
        price_tier="720P",
        parent_job_id=11,
        state=JobState.DELIVERED,
        **changes,
    )


async def test_retry_of_an_extension_reads_its_first_frame_from_disk(tmp_path: Path) -> None:
    frame = last_frame(SAMPLE).png
    files = InputFiles(tmp_path)
    job = extension(files.put(frame))
    bot = SimpleNamespace(engine=SimpleNamespace(inputs=Inputs(files)))

    order = await order_from_job(bot, job)  # type: ignore[arg-type]

    assert order.images == {"image": [InputImage("image-1", frame)]}
    assert order.options == {k: v for k, v in job.request.items() if k != "image"}
    assert (order.model_id, order.parent_job_id, order.confirm_dearer) == (
        "wan2.6-i2v",
        job.id,
        False,
    )


async def test_with_the_frame_gone_everywhere_the_member_is_told(tmp_path: Path) -> None:
    files = InputFiles(tmp_path)
    sha = files.put(last_frame(SAMPLE).png)
    files.delete(sha)  # the provider took it, and the status message is gone too
    job = extension(sha, status_message_id=None)
    bot = SimpleNamespace(engine=SimpleNamespace(inputs=Inputs(files)))

    with pytest.raises(UserFacingError, match="no longer available"):
        await order_from_job(bot, job)  # type: ignore[arg-type]
