"""Start a bot process pointed at the emulator: ``python -m tests.emulator.launch``.

Reads ``WANBOT_TEST_DISCORD_URL`` (the emulator's ``http://127.0.0.1:<port>``), points
``discord.http.Route.BASE`` at ``<url>/api/v10`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` at
``ws://…/ws``, then runs the real entry point ``bot.__main__.main(["run"])``. No test code path
exists inside ``bot/``. ``--module pkg.mod`` runs ``pkg.mod.main()`` instead (the emulator's own
sample bot); extra arguments after ``--`` go to the bot's ``main``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

ENV_URL = "WANBOT_TEST_DISCORD_URL"
ENV_GATEWAY = "WANBOT_TEST_DISCORD_GATEWAY"


def point_discord_at(url: str, gateway: str | None = None) -> None:
    import discord.gateway
    import discord.http
    import yarl

    base = url.rstrip("/")
    discord.http.Route.BASE = f"{base}/api/v10"
    ws = gateway or base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ws)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulator.launch")
    parser.add_argument("--module", help="run MODULE.main() instead of bot.__main__")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    url = os.environ.get(ENV_URL)
    if not url:
        print(f"error: set {ENV_URL} to the emulator's URL", file=sys.stderr)
        return 2
    point_discord_at(url, os.environ.get(ENV_GATEWAY))
    rest = [a for a in args.rest if a != "--"]
    if args.module:
        module = importlib.import_module(args.module)
        return int(module.main(rest) or 0)
    from bot.__main__ import main as bot_main

    return int(bot_main(rest or ["run"]))


if __name__ == "__main__":
    sys.exit(main())
