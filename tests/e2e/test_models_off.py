"""A bot with only a Vtrix key (issue #13): it starts, and the models MuleRouter would serve are
switched off, each said once at start-up, refused to members with the reason before anything is
downloaded, and listed with the reason by ``/wanbot show``.

Their commands stay registered: a member who runs one learns why it does not work (and whom to
ask) instead of finding it missing, and the command list does not change with the keys.
"""

from __future__ import annotations

from bot.jobs.states import JobState
from tests.e2e.conftest import World, ephemeral_text, png_bytes
from tests.e2e.test_buttons import CHANNEL, generate

# No MuleRouter key at all (empty is unset); Vtrix serves wan2.2-i2v-flash.
BOT_ENV = {"MULEROUTER_API_KEY": "", "WAN_I2V_FLASH_PROVIDER": "vtrix"}
MULE_MODELS = ("wan2.2-t2v-plus", "wan2.6-i2v", "wan2.5-i2i-preview")
REFUSAL = "This model is off on this bot: the operator has not set MULEROUTER_API_KEY."


async def test_start_up_says_once_which_models_are_off(world: World) -> None:
    for model in MULE_MODELS:
        said = [line for line in world.bot.lines if f"{model} is off:" in line]
        assert len(said) == 1, world.bot.tail(40)
        assert "WARNING" in said[0]
        assert "MULEROUTER_API_KEY is not set" in said[0]
    assert not [line for line in world.bot.lines if "wan2.2-i2v-flash is off" in line]


async def test_an_off_model_is_refused_with_the_reason_before_any_download(world: World) -> None:
    image = world.discord.cdn.add("frame.png", png_bytes(640, 640), "image/png")
    downloads = len(world.discord.cdn.downloads)
    answers = {
        "wan-t2v": await ephemeral_text(world, "alice", CHANNEL, "wan-t2v", {"prompt": "a cat"}),
        "wan-i2v": await ephemeral_text(
            world, "alice", CHANNEL, "wan-i2v", {"prompt": "a cat"}, attachments={"image": image}
        ),
        "wan-i2i": await ephemeral_text(
            world, "alice", CHANNEL, "wan-i2i", {"prompt": "a cat"}, attachments={"image": image}
        ),
    }
    assert answers == dict.fromkeys(answers, REFUSAL)
    assert len(world.discord.cdn.downloads) == downloads  # nothing fetched
    assert world.creates() == []


async def test_wanbot_show_lists_the_models_off_and_why(world: World) -> None:
    shown = (await ephemeral_text(world, "owner", CHANNEL, "wanbot show")).splitlines()
    assert "**Models off:** none" in shown  # the server's own switch is another matter
    assert (
        "**Off on this bot:** wan2.2-t2v-plus, wan2.6-i2v, wan2.5-i2i-preview "
        "(MULEROUTER_API_KEY is not set; only the operator can change it)"
    ) in shown


async def test_the_model_with_a_key_still_runs(world: World) -> None:
    image = ("frame.png", png_bytes(640, 640), "image/png")
    job_id, _ = await generate(
        world, "alice", "wan-i2v-flash", {"prompt": "the flag waves"}, {"image": image}
    )
    job = await world.wait_job(job_id, JobState.DELIVERED)
    assert job.provider == "vtrix"
