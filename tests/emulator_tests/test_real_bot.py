"""The default launcher runs the real bot (``bot.__main__.main(["run"])``) against the
emulator: it logs in, connects to the gateway and registers its commands."""

from __future__ import annotations

from pathlib import Path

from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig


async def test_real_bot_connects_through_the_launcher(tmp_path: Path) -> None:
    env = {
        "WANBOT_DATABASE": str(tmp_path / "wanbot.sqlite3"),
        "WANBOT_MEDIA_DIR": str(tmp_path / "media"),
        "WANBOT_LOG_LEVEL": "INFO",
        # run refuses to start without its provider key; nothing is generated here, so
        # the key points at a closed loopback port.
        "MULEROUTER_API_KEY": "unused",
        "MULEROUTER_BASE_URL": "http://127.0.0.1:9",
        "WANBOT_HTTP_PORT": "off",  # test bots share the machine; 8080 may be taken
    }
    async with DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=1000)) as emulator:
        bot = BotProcess(emulator, env=env)
        await bot.start()
        try:
            session = await emulator.wait_ready(30)
            assert session.identify["token"] == emulator.token
            routes = [r.route for r in emulator.requests]
            assert routes[:2] == ["GET /users/@me", "GET /oauth2/applications/@me"]
            assert emulator.unknown_routes == [], bot.tail()
            assert emulator.gateway.connection.compress == "zlib-stream"
        finally:
            await bot.stop()
