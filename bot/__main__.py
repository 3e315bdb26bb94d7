"""``python -m bot``: the command-line entry point.

Subcommands: ``run`` (the Discord bot; the default), ``generate`` (one generation from the
terminal), ``models`` (the catalog), ``backup`` and ``restore`` (the database),
``migrate-to-postgres`` (the SQLite data into a shared PostgreSQL database), ``doctor`` (every
setting and outside party checked), ``simulator`` (both providers' APIs on loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import logging
import sys

from bot.availability import models_off, none_usable
from bot.catalog import MODEL_IDS
from bot.cli.backup import add_backup_parsers
from bot.cli.generate import add_generate_parser
from bot.cli.migrate_postgres import add_migrate_parser
from bot.cli.models import add_models_parser
from bot.config import ConfigError, load_settings
from bot.logging_setup import configure_logging, configured_secrets
from bot.preflight import preflight
from bot.simulator import add_simulator_arguments, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="wanbot: Alibaba Wan video and image generation for Discord servers.",
        epilog="Settings come from the environment and ./.env; see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"wanbot {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = subparsers.add_parser(
        "run",
        help="run the Discord bot (the default)",
        description="Connect to Discord and serve the slash commands.",
    )
    run.set_defaults(handler=run_bot)
    add_generate_parser(subparsers)
    add_models_parser(subparsers)
    add_backup_parsers(subparsers)
    add_migrate_parser(subparsers)
    doctor = subparsers.add_parser(
        "doctor",
        help="check the settings, database, provider keys and Discord token",
        description=(
            "Check every setting, the database and its migrations, each provider key, and the "
            "Discord token; print the invite link. One line per check; exit status 1 if any "
            "failed. Creates nothing, and may run beside the bot."
        ),
    )
    doctor.set_defaults(handler=run_doctor)
    simulator = subparsers.add_parser(
        "simulator",
        help="serve simulated MuleRouter and Vtrix APIs on loopback",
        description="Serve both providers' contracts on 127.0.0.1 for development and tests.",
    )
    add_simulator_arguments(simulator)
    simulator.set_defaults(handler=run_simulator)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("wanbot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown (not installed)"


def run_bot(args: argparse.Namespace) -> int:
    """Check the settings, then serve Discord until stopped.

    A provider without its key switches off the models it serves (one warning line each,
    naming the variable; their commands stay registered and tell members why, see
    :mod:`bot.availability`); only when no model is usable does start-up stop, with one line.
    """
    try:
        settings = load_settings()
        settings.require_discord_token()
        off = models_off(settings)  # a provider without its key switches off its models
        if len(off) == len(MODEL_IDS):
            raise ConfigError(f"no model can run: {none_usable(off)}")
        preflight(settings)  # before contacting Discord: files and folders it will need
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    configure_logging(
        settings.log_level, secrets=configured_secrets(settings), log_format=settings.log_format
    )
    for model in off.values():
        logging.getLogger("bot").warning(
            "%s is off: %s (its command stays, and tells members so)", model.model_id, model.reason
        )
    from bot.discord_ui.app import run_client

    return run_client(settings)


def run_doctor(args: argparse.Namespace) -> int:
    from bot.doctor import run_doctor as diagnose  # imports discord.py: only when asked

    return diagnose(args)


def run_simulator(args: argparse.Namespace) -> int:
    configure_logging("INFO")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
