"""/wan-t2v: text to a 5-second video with wan2.2-t2v-plus."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalog import WanT2VPlusRequest as Request
from bot.discord_ui.generation import GenerationOrder, start_generation
from bot.discord_ui.options import MAX_SEED, literal_choices, max_length, t2v_size_label

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot


class WanT2V(commands.Cog):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="wan-t2v", description="Make a 5-second video from a text prompt (Wan 2.2 Plus)."
    )
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What happens in the video",
        negative_prompt="What should not appear",
        size="Frame size and aspect ratio (default 832×480, or the server's)",
        prompt_extend="Let the model enrich a short prompt (default on)",
        seed="Fix the randomness to repeat a result",
    )
    @app_commands.choices(size=literal_choices(Request, "size", t2v_size_label))
    async def wan_t2v(
        self,
        interaction: discord.Interaction[WanBot],
        prompt: app_commands.Range[str, 1, max_length(Request, "prompt")],
        negative_prompt: app_commands.Range[str, 1, max_length(Request, "negative_prompt")]
        | None = None,
        size: app_commands.Choice[str] | None = None,
        prompt_extend: bool | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
    ) -> None:
        await start_generation(
            interaction,
            GenerationOrder(
                "wan2.2-t2v-plus",
                {
                    "prompt": prompt,
                    "negative_prompt": negative_prompt,
                    "size": size.value if size else None,
                    "prompt_extend": prompt_extend,
                    "seed": seed,
                },
            ),
        )


async def setup(bot: WanBot) -> None:
    await bot.add_cog(WanT2V(bot))
