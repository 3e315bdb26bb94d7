"""/wan-i2v-flash: a fast 5-second video from an image (wan2.2-i2v-flash, MuleRouter or Vtrix)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalog import WanI2VFlashRequest as Request
from bot.discord_ui.generation import GenerationOrder, start_generation
from bot.discord_ui.options import MAX_SEED, literal_choices, max_length

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot


class WanI2VFlash(commands.Cog):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="wan-i2v-flash",
        description="Make a fast 5-second video from an image (Wan 2.2 Flash).",
    )
    @app_commands.guild_only()
    @app_commands.describe(
        image="The first frame (JPEG, PNG, BMP or WEBP, 360–2000 px per side)",
        prompt="How it should move",
        negative_prompt="What should not appear",
        resolution="Output resolution (default 480P, or the server's)",
        prompt_extend="Let the model enrich a short prompt (default on)",
        seed="Fix the randomness to repeat a result",
        safety_filter="Content safety filter (default on; off only in age-restricted channels)",
        template="A video effect template name, e.g. solaron",
    )
    @app_commands.choices(resolution=literal_choices(Request, "resolution"))
    async def wan_i2v_flash(
        self,
        interaction: discord.Interaction[WanBot],
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, max_length(Request, "prompt")],
        negative_prompt: app_commands.Range[str, 1, max_length(Request, "negative_prompt")]
        | None = None,
        resolution: app_commands.Choice[str] | None = None,
        prompt_extend: bool | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        safety_filter: bool | None = None,
        template: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        await start_generation(
            interaction,
            GenerationOrder(
                "wan2.2-i2v-flash",
                {
                    "prompt": prompt,
                    "negative_prompt": negative_prompt,
                    "resolution": resolution.value if resolution else None,
                    "prompt_extend": prompt_extend,
                    "seed": seed,
                    "safety_filter": safety_filter,
                    "template": template,
                },
                attachments={"image": [image]},
            ),
        )


async def setup(bot: WanBot) -> None:
    await bot.add_cog(WanI2VFlash(bot))
