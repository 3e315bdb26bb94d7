"""/wan-i2v: a 5/10/15-second video from an image, with sound (wan2.6-i2v)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalog import WanI2V26Request as Request
from bot.discord_ui.generation import GenerationOrder, start_generation
from bot.discord_ui.options import MAX_SEED, literal_choices, max_length

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot


class WanI2V(commands.Cog):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="wan-i2v",
        description="Make a video with sound from an image (Wan 2.6; 5, 10 or 15 seconds).",
    )
    @app_commands.guild_only()
    @app_commands.describe(
        image="The first frame (JPEG, PNG, BMP or WEBP, 360–2000 px per side)",
        prompt="What happens in the video",
        last_frame="Optional last frame to end on",
        audio_file="Your own soundtrack: WAV or MP3, 3–30 seconds, up to 15 MB",
        audio="Generate sound (default on)",
        negative_prompt="What should not appear",
        resolution="Output resolution (default 720P, or the server's)",
        duration="Length in seconds (default 5)",
        shot_type="Single shot or multiple shots (multi needs prompt extend on)",
        prompt_extend="Let the model enrich a short prompt (default on)",
        seed="Fix the randomness to repeat a result",
        safety_filter="Content safety filter (default on; off only in age-restricted channels)",
    )
    @app_commands.choices(
        resolution=literal_choices(Request, "resolution"),
        duration=literal_choices(Request, "duration", lambda seconds: f"{seconds} seconds"),
        shot_type=literal_choices(Request, "shot_type"),
    )
    async def wan_i2v(
        self,
        interaction: discord.Interaction[WanBot],
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, max_length(Request, "prompt")],
        last_frame: discord.Attachment | None = None,
        audio_file: discord.Attachment | None = None,
        audio: bool | None = None,
        negative_prompt: app_commands.Range[str, 1, max_length(Request, "negative_prompt")]
        | None = None,
        resolution: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
        shot_type: app_commands.Choice[str] | None = None,
        prompt_extend: bool | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        safety_filter: bool | None = None,
    ) -> None:
        attachments = {"image": [image]}
        if last_frame is not None:
            attachments["last_frame"] = [last_frame]
        await start_generation(
            interaction,
            GenerationOrder(
                "wan2.6-i2v",
                {
                    "prompt": prompt,
                    "negative_prompt": negative_prompt,
                    "audio": audio,
                    "resolution": resolution.value if resolution else None,
                    "duration": duration.value if duration else None,
                    "shot_type": shot_type.value if shot_type else None,
                    "prompt_extend": prompt_extend,
                    "seed": seed,
                    "safety_filter": safety_filter,
                },
                attachments=attachments,
                audio=audio_file,
            ),
        )


async def setup(bot: WanBot) -> None:
    await bot.add_cog(WanI2V(bot))
