"""/wan-i2i: edit 1–3 images into 1–4 new images (wan2.5-i2i-preview)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalog import I2I_COMMON_SIZES, parse_i2i_size
from bot.catalog import WanI2I25Request as Request
from bot.discord_ui.generation import GenerationOrder, start_generation
from bot.discord_ui.options import MAX_SEED, max_length

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot


class WanI2I(commands.Cog):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="wan-i2i",
        description="Edit images with a prompt (Wan 2.5; 1–3 images in, 1–4 images out).",
    )
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="The edit to make",
        image="The image to edit (JPEG, PNG, BMP or WEBP, 384–5000 px per side)",
        image2="A second reference image",
        image3="A third reference image",
        negative_prompt="What should not appear",
        size="Output size as width*height, e.g. 1280*1280 (768²–1440² pixels, 1:4 to 4:1)",
        n="How many images to make (default 1; each is billed)",
        seed="Fix the randomness to repeat a result",
        prompt_extend="Let the model enrich a short prompt (default off)",
        safety_filter="Content safety filter (default on; off only in age-restricted channels)",
    )
    async def wan_i2i(
        self,
        interaction: discord.Interaction[WanBot],
        prompt: app_commands.Range[str, 1, max_length(Request, "prompt")],
        image: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        negative_prompt: app_commands.Range[str, 1, max_length(Request, "negative_prompt")]
        | None = None,
        size: app_commands.Range[str, 3, 11] | None = None,
        n: app_commands.Range[int, 1, 4] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        prompt_extend: bool | None = None,
        safety_filter: bool | None = None,
    ) -> None:
        images = [attachment for attachment in (image, image2, image3) if attachment is not None]
        await start_generation(
            interaction,
            GenerationOrder(
                "wan2.5-i2i-preview",
                {
                    "prompt": prompt,
                    "negative_prompt": negative_prompt,
                    "size": size,
                    "n": n or 1,
                    "seed": seed,
                    "prompt_extend": prompt_extend,
                    "safety_filter": safety_filter,
                },
                attachments={"images": images},
            ),
        )

    @wan_i2i.autocomplete("size")
    async def size_choices(
        self, interaction: discord.Interaction[WanBot], current: str
    ) -> list[app_commands.Choice[str]]:
        """Common sizes matching what was typed; what was typed first when it is valid."""
        typed = current.strip()
        choices = [size for size in I2I_COMMON_SIZES if size.startswith(typed.replace("x", "*"))]
        try:
            valid = parse_i2i_size(typed) if typed else None
        except ValueError:
            valid = None
        if valid and valid not in choices:
            choices.insert(0, valid)
        return [
            app_commands.Choice(name=size.replace("*", " × "), value=size) for size in choices[:25]
        ]


async def setup(bot: WanBot) -> None:
    await bot.add_cog(WanI2I(bot))
