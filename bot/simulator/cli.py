"""Command-line entry for a standalone simulator (``python -m bot simulator``).

Why this module exists: developers and out-of-process benchmarks run the simulator as its own
process; these options map one to one onto :class:`~bot.simulator.config.SimulatorConfig`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from decimal import Decimal, InvalidOperation

from bot.config import ProviderName
from bot.simulator.config import SimulatorConfig
from bot.simulator.server import SimulatorServer

DEFAULT_PORT = 8765
DEFAULT_CLI_SPEED = 10.0


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount like 5.00") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return value


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options; :func:`serve` reads them back."""
    defaults = SimulatorConfig()
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free one)")
    parser.add_argument(
        "--speed",
        type=positive_number,
        default=DEFAULT_CLI_SPEED,
        help="simulated seconds per real second (default: %(default)s)",
    )
    parser.add_argument(
        "--failure-rate",
        type=_rate,
        default=defaults.failure_rate,
        help="share of tasks that fail with a 3001-3005 error",
    )
    parser.add_argument(
        "--rate-limit-rate",
        type=_rate,
        default=defaults.rate_limit_rate,
        help="share of requests answered 429",
    )
    parser.add_argument(
        "--retry-after",
        type=int,
        default=defaults.retry_after,
        help="Retry-After seconds sent with 429 (default: %(default)s)",
    )
    parser.add_argument(
        "--server-error-rate",
        type=_rate,
        default=defaults.server_error_rate,
        help="share of requests answered 500",
    )
    parser.add_argument(
        "--unavailable-rate",
        type=_rate,
        default=defaults.unavailable_rate,
        help="share of requests answered 503",
    )
    parser.add_argument(
        "--slow-rate",
        type=_rate,
        default=defaults.slow_rate,
        help="share of requests answered late",
    )
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=defaults.slow_seconds,
        help="delay of a late answer (default: %(default)s)",
    )
    parser.add_argument(
        "--malformed-rate",
        type=_rate,
        default=defaults.malformed_rate,
        help="share of requests answered with truncated JSON",
    )
    parser.add_argument(
        "--drop-rate",
        type=_rate,
        default=defaults.drop_rate,
        help="share of requests whose connection is closed unanswered",
    )
    parser.add_argument(
        "--unknown-status-words",
        action="store_true",
        help="sometimes report an undocumented status word while running",
    )
    parser.add_argument(
        "--balance", type=_usd, default=None, help="account balance in USD (default: unlimited)"
    )
    parser.add_argument("--seed", type=int, default=None, help="RNG seed for a repeatable run")
    hooks = parser.add_argument_group("webhooks (MuleRouter tasks' signed events)")
    hooks.add_argument("--webhook-url", default=None, help="POST task events here")
    hooks.add_argument(
        "--webhook-secret", default=None, help="whsec_... secret to sign them with (with a URL)"
    )
    for fault, what in (
        ("drop", "never sent"),
        ("duplicate", "sent twice"),
        ("delay", "sent --webhook-delay-seconds late"),
        ("out-of-order", "of tasks whose task.created comes after their last event"),
        ("bad-signature", "signed with a wrong key"),
    ):
        hooks.add_argument(
            f"--webhook-{fault}-rate", type=_rate, default=0.0, help=f"share of events {what}"
        )
    hooks.add_argument(
        "--webhook-delay-seconds",
        type=float,
        default=defaults.webhook_delay_seconds,
        help="delay of a late event (default: %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    if args.webhook_url and not args.webhook_secret:
        raise SystemExit("error: --webhook-url needs --webhook-secret (whsec_...) to sign with")
    return SimulatorConfig(
        speed=args.speed,
        seed=args.seed,
        failure_rate=args.failure_rate,
        unknown_status_words=args.unknown_status_words,
        rate_limit_rate=args.rate_limit_rate,
        retry_after=args.retry_after,
        server_error_rate=args.server_error_rate,
        unavailable_rate=args.unavailable_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        malformed_rate=args.malformed_rate,
        drop_rate=args.drop_rate,
        balance=args.balance,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        webhook_drop_rate=args.webhook_drop_rate,
        webhook_duplicate_rate=args.webhook_duplicate_rate,
        webhook_delay_rate=args.webhook_delay_rate,
        webhook_delay_seconds=args.webhook_delay_seconds,
        webhook_out_of_order_rate=args.webhook_out_of_order_rate,
        webhook_bad_signature_rate=args.webhook_bad_signature_rate,
    )


async def serve(args: argparse.Namespace) -> None:
    """Run a simulator built from ``args`` until SIGINT or SIGTERM."""
    server = SimulatorServer(config_from_args(args))
    await server.start(args.host, args.port)
    keys = server.config.keys
    print(
        f"simulator listening on {server.base_url} (MuleRouter and Vtrix); keys: "
        + ", ".join(
            f"{provider}={','.join(sorted(keys.get(provider, ())))}" for provider in ProviderName
        ),
        flush=True,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop()
