"""Settings of one emulator: identity of the bot, gateway timing and Discord's default rules.

Why this module exists: the real values (3 s deadline, 15 min tokens, 10 MiB uploads, 41.25 s
heartbeats) are the defaults a test changes one at a time; they live in one dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.emulator.write_limits import Window

MIB = 1024 * 1024


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    # Identity.
    token: str = "emulator-bot-token.AAAAAA.emulator"
    bot_name: str = "WanBot"
    application_name: str = "WanBot"
    application_flags: int = 1 << 23  # APPLICATION_COMMAND_BADGE
    # Gateway. Discord says 41250 ms; tests want faster heartbeats.
    heartbeat_interval_ms: int = 41250
    heartbeat_ack_delay: float = 0.005
    replay_buffer: int = 2000
    # GET /gateway/bot: the recommended shard count and identifies per 5 s (Discord's
    # "shards" and "session_start_limit.max_concurrency"). Any IDENTIFY's shard is accepted.
    gateway_shards: int = 1
    max_concurrency: int = 1
    session_start_total: int = 1000
    # Discord's rules (each can be changed per test through ``emulator.rules``).
    deadline_seconds: float | None = 3.0
    token_ttl_seconds: float | None = 15 * 60.0
    upload_limit: int = 10 * MIB
    enforce_double_ack: bool = True
    enforce_message_limits: bool = True
    enforce_component_limits: bool = True
    enforce_permissions: bool = True
    cdn_url_ttl_seconds: float = 24 * 3600.0
    nonce_window_seconds: float = 300.0
    # Test-user realism: nobody clicks within this many seconds of a message appearing.
    min_click_delay: float = 0.5
    # Per-channel message writes (create, edit, delete share one bucket): (writes, seconds),
    # e.g. (5, 5.0) as Discord; None: unlimited.
    channel_write_limit: tuple[int, float] | None = None
    # "fixed" windows as Discord, or "sliding" (never more than the limit in any span).
    channel_write_window: Window = "fixed"
    # The default server.
    default_guild: bool = True
    guild_name: str = "Wan Test Server"
    # Largest request body the server reads (uploads above the limit still get a clean 413).
    max_request_bytes: int = 256 * MIB
