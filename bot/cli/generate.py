"""``python -m bot generate``: one generation from the terminal, start to finish.

Why this module exists: an operator checks a key (and the whole path: validation, media checks,
submission, polling, download, pricing) before inviting the bot anywhere, and developers try the
bot with ``--simulate`` and no credentials at all. It drives the same core as the Discord bot.

Exit status: 0 with the result paths printed; 1 with one ``error:`` line on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from pydantic import HttpUrl, SecretStr

from bot import defaults
from bot.catalog import (
    CATALOG,
    ModelSpec,
    RequestInvalid,
    ResultKind,
    WanRequest,
    resolve,
)
from bot.cli.options import add_request_arguments
from bot.cli.terminal import TerminalDeliverer, for_terminal
from bot.config import ConfigError, Settings, load_settings
from bot.jobs.budget import Limits
from bot.jobs.build import build_engine
from bot.jobs.records import Job
from bot.jobs.states import JobState
from bot.logging_setup import configure_logging, configured_secrets
from bot.orders import InputImage, OrderRefused, build_request, check_options, prepare_images
from bot.pricing import PriceTable, PriceTableError, format_usd
from bot.providers import RetryPolicy
from bot.simulator.cli import positive_number
from bot.wording import clock


class GenerateFailed(Exception):
    """A generation ended without a result; ``str()`` is the one line printed."""


def add_generate_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="run one generation from the terminal and download the result",
        description="Validate, submit, follow and download one generation. "
        "Use --simulate to try it without any key or network.",
    )
    models = parser.add_subparsers(dest="model", metavar="MODEL", required=True)
    seen: set[str] = set()
    for spec in CATALOG:
        if spec.model_id in seen:
            continue
        seen.add(spec.model_id)
        sub = models.add_parser(spec.model_id, help=spec.summary, description=spec.title)
        # Every provider's fields for this model: Vtrix adds `watermark`, MuleRouter `template`.
        for variant in (s for s in CATALOG if s.model_id == spec.model_id):
            _add_variant_arguments(sub, variant)
        sub.add_argument(
            "--out", type=Path, default=Path("out"), help="folder for the results (default: ./out)"
        )
        sub.add_argument(
            "--simulate",
            action="store_true",
            help="run against the built-in simulator: no key, no network",
        )
        sub.add_argument(
            "--simulator-speed",
            type=positive_number,
            default=30.0,
            help="with --simulate: simulated seconds per real second (default 30)",
        )
        sub.set_defaults(handler=run_generate)


def _add_variant_arguments(parser: argparse.ArgumentParser, spec: ModelSpec) -> None:
    existing = {action.dest for action in parser._actions}
    group = parser.add_argument_group(f"{spec.provider} options")
    scratch = argparse.ArgumentParser(add_help=False)
    for option in add_request_arguments(scratch, spec.request_type):
        if option.field in existing:
            continue
        action = next(a for a in scratch._actions if a.dest == option.field)
        group._add_action(action)


def run_generate(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_generate(args, sys.stderr))
    except (GenerateFailed, ConfigError, PriceTableError) as exc:
        print(f"error: {for_terminal(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the task, if submitted, may still run and be billed upstream",
            file=sys.stderr,
        )
        return 130
    return 0


async def _generate(args: argparse.Namespace, out: TextIO) -> None:
    settings = load_settings()
    # The status line speaks for the engine here; its log lines only when asked to (DEBUG).
    configure_logging(
        "DEBUG" if settings.log_level == "DEBUG" else "ERROR",
        secrets=configured_secrets(settings),
    )
    async with contextlib.AsyncExitStack() as stack:
        engine_overrides: dict[str, Any] = {}
        if args.simulate:
            settings = await stack.enter_async_context(_simulated(settings, args.simulator_speed))
            engine_overrides = _simulated_timing(args.simulator_speed)
        spec = resolve(args.model, settings)
        prices = PriceTable.load(settings.price_table)
        settings.api_key(spec.provider)  # a missing key stops here, naming the variable to set
        request, media, notes = await _build_request(args, spec)
        if await _prepare_out_dir(args.out):
            # Leave no empty folder behind if the run ends without a result.
            stack.callback(_remove_if_empty, args.out)
        for note in notes:
            print(f"note: {for_terminal(note)}", file=out)
        print(
            f"submitting {spec.model_id} to {spec.provider} "
            f"(estimated {format_usd(prices.estimate(spec.model_id, request))})",
            file=out,
        )

        # A private, throw-away database: a terminal run never touches the bot's own jobs.
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wanbot-")))
        private = settings.model_copy(
            update={
                "database_path": workdir / "jobs.sqlite3",
                "database_url": None,  # never a shared PostgreSQL database either
                "media_dir": workdir / "media",
            }
        )
        session = await stack.enter_async_context(aiohttp.ClientSession())
        deliverer = TerminalDeliverer(args.out, out)
        engine = await build_engine(
            private,
            session,
            deliverer,
            prices=prices,
            poll_retry=RetryPolicy(attempts=3),
            default_limits=Limits(),
            # A terminal run ends with its process: the deadline is how long it follows the
            # task (the bot follows an accepted task past it; see bot.jobs.engine).
            result_ttl_seconds=(
                settings.video_deadline
                if spec.result_kind is ResultKind.VIDEO
                else settings.image_deadline
            ),
            **engine_overrides,
        )
        stack.push_async_callback(engine.store.close)
        deliverer.eta = engine.eta
        await engine.start()
        stack.push_async_callback(engine.stop)
        await engine.submit(
            user_id=0, guild_id=None, channel_id=None, spec=spec, request=request, media=media
        )
        ticker = asyncio.create_task(deliverer.tick_forever())
        try:
            await deliverer.finished.wait()
        finally:
            ticker.cancel()
        ended = deliverer.ended
        assert ended is not None
        if not deliverer.result_paths:
            raise GenerateFailed(_failure_line(ended, deliverer.elapsed()))
        for path in deliverer.result_paths:
            print(path)
        label = "billed" if ended.billed_cost is not None else "estimated"
        print(f"cost: {format_usd(ended.cost)} ({label})", file=out)


async def _prepare_out_dir(out_dir: Path) -> bool:
    """Create ``--out`` before anything is sent, so a bad folder never costs a generation.

    Returns whether it had to be created.
    """
    existed = await asyncio.to_thread(out_dir.is_dir)
    try:
        await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        raise GenerateFailed(f"cannot use {out_dir} for the results: {exc.strerror}") from None
    return not existed


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _failure_line(job: Job, elapsed: float) -> str:
    """The one line a failed run ends with: the member's message, then the operator's detail."""
    if job.state is JobState.TIMED_OUT:
        if job.task_id is None:
            return f"not sent after {clock(elapsed)}: {job.error_message}"
        return (
            f"no result after {clock(elapsed)}; gave up waiting for task {job.task_id}, "
            "which the provider accepted and may bill."
        )
    message = job.error_message or "The generation failed."
    if (
        job.state is JobState.FAILED
        and job.task_id is not None
        and job.error_code not in ("delivery_failed", "task_lost")
    ):
        return f"{message} (code {job.error_code}) Nothing should be billed for a failed task."
    if job.error_code == "delivery_failed":
        # The member's words point at /jobs show, which a terminal run does not have.
        return (
            "The result was made but could not be downloaded. The result links (valid about "
            f"24 h): {' '.join(job.result_urls)}"
        )
    return f"{message} [{job.error_detail}]" if job.error_detail else message


def _simulated_timing(speed: float) -> dict[str, Any]:
    """Engine timing for the in-process simulator: expectations scaled to its speed."""
    from bot.simulator.config import DEFAULT_DURATIONS

    return {
        "poll_min_interval": 0.5,
        "poll_first_look": 0.5,
        "poll_max_interval": 2.0,
        "poll_target_delay": 5.0 / speed,
        "expected_seconds": {
            model: seconds / speed for model, seconds in DEFAULT_DURATIONS.items()
        },
    }


async def _build_request(
    args: argparse.Namespace, spec: ModelSpec
) -> tuple[WanRequest, dict[str, bytes], list[str]]:
    """The typed request from the flags, with local images checked and turned into data URIs."""
    scratch = argparse.ArgumentParser(add_help=False)
    options = add_request_arguments(scratch, spec.request_type)
    fields: dict[str, Any] = {}
    known = {option.field for option in options}
    for name, value in vars(args).items():
        if value is not None and name not in known and name in _all_request_fields():
            raise GenerateFailed(
                f"--{name.replace('_', '-')} is not available for "
                f"{spec.model_id} on {spec.provider}"
            )
    sources: dict[str, list[InputImage]] = {}
    for option in options:
        value = getattr(args, option.field, None)
        if value is None:
            continue
        if option.kind in ("image", "images"):
            paths = value if isinstance(value, list) else [value]
            sources[option.field] = [await _read_image(path) for path in paths]
        else:
            fields[option.field] = value
    try:
        fields = defaults.fill(spec, check_options(spec, fields), {})  # the bot's defaults
        images = await prepare_images(spec, sources)
        request, media = build_request(spec, fields, images)
    except (OrderRefused, RequestInvalid) as exc:
        raise GenerateFailed(str(exc)) from None
    return request, media, [note for item in images for note in item.image.notes]


def _all_request_fields() -> set[str]:
    return {name for spec in CATALOG for name in spec.request_type.model_fields}


async def _read_image(source: str) -> InputImage:
    path = Path(source)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise GenerateFailed(f"cannot read {source}: {exc.strerror}") from None
    return InputImage(path.name, data)


@contextlib.asynccontextmanager
async def _simulated(settings: Settings, speed: float) -> AsyncIterator[Settings]:
    """Start the simulator in this process and point both providers at it."""
    from bot.simulator import (
        DEFAULT_MULEROUTER_KEY,
        DEFAULT_VTRIX_KEY,
        SimulatorConfig,
        SimulatorServer,
    )

    async with SimulatorServer(SimulatorConfig(speed=speed)) as server:
        yield settings.model_copy(
            update={
                "mulerouter_base_url": HttpUrl(server.base_url),
                "vtrix_base_url": HttpUrl(server.base_url),
                "mulerouter_api_key": SecretStr(DEFAULT_MULEROUTER_KEY),
                "vtrix_api_key": SecretStr(DEFAULT_VTRIX_KEY),
            }
        )
