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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from pydantic import HttpUrl, SecretStr

from bot.catalog import (
    CATALOG,
    ModelSpec,
    PixelBounds,
    RequestInvalid,
    ResultKind,
    WanRequest,
    resolve,
)
from bot.cli.options import add_request_arguments
from bot.config import ConfigError, Settings, load_settings
from bot.media import MediaRejected, prepare_image
from bot.pricing import PriceTable, PriceTableError, format_usd
from bot.providers import PollResult, Providers, RetryPolicy, TaskState
from bot.providers.errors import ProviderError
from bot.results import ResultDownloadFailed, ResultTooLarge, download_result

# How long a generation usually takes, for the ETA before any history exists.
TYPICAL_SECONDS: dict[str, float] = {
    "wan2.2-t2v-plus": 120.0,
    "wan2.2-i2v-flash": 60.0,
    "wan2.6-i2v": 180.0,
    "wan2.5-i2i-preview": 90.0,
}


class GenerateFailed(Exception):
    """A generation ended without a result; ``str()`` is the one line printed."""


def add_generate_parser(subparsers: argparse._SubParsersAction) -> None:
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
        sub.add_argument("--out", type=Path, default=Path("out"),
                         help="folder for the results (default: ./out)")
        sub.add_argument("--simulate", action="store_true",
                         help="run against the built-in simulator: no key, no network")
        sub.add_argument("--simulator-speed", type=float, default=30.0,
                         help="with --simulate: simulated seconds per real second (default 30)")
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
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: the task, if submitted, may still run and be billed upstream",
              file=sys.stderr)
        return 130
    return 0


async def _generate(args: argparse.Namespace, out: TextIO) -> None:
    settings = load_settings()
    async with contextlib.AsyncExitStack() as stack:
        if args.simulate:
            settings = await stack.enter_async_context(_simulated(settings, args.simulator_speed))
        spec = resolve(args.model, settings)
        prices = PriceTable.load(settings.price_table)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        request, notes = await _build_request(args, spec, session)
        for note in notes:
            print(f"note: {note}", file=out)
        estimate = prices.estimate(spec.model_id, request)
        provider = Providers(settings, session, poll_retry=RetryPolicy(attempts=3)).for_spec(spec)
        print(f"submitting {spec.model_id} to {spec.provider} "
              f"(estimated {format_usd(estimate)})", file=out)
        try:
            task_id = await provider.submit(spec, request)
        except ProviderError as exc:
            raise GenerateFailed(f"{exc.user_message} [{exc}]") from None
        print(f"task {task_id} accepted", file=out)
        deadline = (settings.video_deadline if spec.result_kind is ResultKind.VIDEO
                    else settings.image_deadline)
        interval = 0.5 if args.simulate else settings.poll_interval_min
        result = await _follow(provider, spec, task_id, deadline=deadline, interval=interval,
                               out=out)
        paths = await _download(session, result, spec, task_id, args.out, settings)
        cost = result.billed_cost
        label = "billed" if cost is not None else "estimated"
        for path in paths:
            print(path)
        print(f"cost: {format_usd(cost if cost is not None else estimate)} ({label})", file=out)


async def _build_request(args: argparse.Namespace, spec: ModelSpec,
                         session: aiohttp.ClientSession) -> tuple[WanRequest, list[str]]:
    """The typed request from the flags, with local images checked and turned into data URIs."""
    scratch = argparse.ArgumentParser(add_help=False)
    options = add_request_arguments(scratch, spec.request_type)
    fields: dict[str, Any] = {}
    notes: list[str] = []
    known = {option.field for option in options}
    for name, value in vars(args).items():
        if value is not None and name not in known and name in _all_request_fields():
            raise GenerateFailed(f"--{name.replace('_', '-')} is not available for "
                                 f"{spec.model_id} on {spec.provider}")
    for option in options:
        value = getattr(args, option.field, None)
        if value is None:
            continue
        if option.kind in ("image", "images"):
            paths = value if isinstance(value, list) else [value]
            prepared = []
            for path in paths:
                data_uri, image_notes = await _load_image(path, spec.image_bounds, session)
                prepared.append(data_uri)
                notes.extend(image_notes)
            value = prepared if option.kind == "images" else prepared[0]
        fields[option.field] = value
    try:
        return spec.parse(fields), notes
    except RequestInvalid as exc:
        raise GenerateFailed(str(exc)) from None


def _all_request_fields() -> set[str]:
    return {name for spec in CATALOG for name in spec.request_type.model_fields}


async def _load_image(source: str, bounds: PixelBounds | None,
                      session: aiohttp.ClientSession) -> tuple[str, list[str]]:
    if bounds is None:
        raise GenerateFailed("this model takes no image")
    path = Path(source)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise GenerateFailed(f"cannot read {source}: {exc.strerror}") from None
    try:
        prepared = await asyncio.to_thread(prepare_image, data, bounds, name=path.name)
    except MediaRejected as exc:
        raise GenerateFailed(exc.user_message) from None
    return prepared.data_uri, list(prepared.notes)


@dataclass
class _Progress:
    """The live status line: state, elapsed, ETA, and progress when the provider reports it."""

    out: TextIO
    model_id: str
    started: float
    width: int = 0

    def show(self, result: PollResult | None, note: str = "") -> None:
        elapsed = time.monotonic() - self.started
        state = result.state.value if result else "submitted"
        parts = [f"[{state}]", f"elapsed {_clock(elapsed)}"]
        if result and result.state.finished:
            pass
        elif result and result.progress:
            parts.append(f"{result.progress:.0%}")
            if result.progress > 0.02:
                parts.append(f"ETA {_clock(elapsed * (1 - result.progress) / result.progress)}")
        else:
            typical = TYPICAL_SECONDS.get(self.model_id, 120.0)
            parts.append(f"ETA ~{_clock(max(typical - elapsed, 0))}")
        if note:
            parts.append(note)
        line = " · ".join(parts)
        if self.out.isatty():
            self.out.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.out.isatty() and self.width:
            self.out.write("\n")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


async def _follow(provider: Any, spec: ModelSpec, task_id: str, *, deadline: float,
                  interval: float, out: TextIO) -> PollResult:
    """Poll until the task finishes or the deadline passes; transient errors only delay."""
    progress = _Progress(out, spec.model_id, time.monotonic())
    last_state: TaskState | None = None
    try:
        while True:
            await asyncio.sleep(interval)
            elapsed = time.monotonic() - progress.started
            if elapsed > deadline:
                raise GenerateFailed(
                    f"no result after {_clock(elapsed)}; gave up waiting for task {task_id}. "
                    "It may still finish and be billed upstream."
                )
            try:
                result = await provider.poll(spec, task_id)
            except ProviderError as exc:
                if not exc.transient:
                    raise GenerateFailed(f"{exc.user_message} [{exc}]") from None
                progress.show(None, note=f"provider trouble, still waiting ({exc.status or ''})")
                continue
            if result.state is TaskState.SUCCEEDED:
                progress.show(result)
                return result
            if result.state is TaskState.FAILED:
                progress.show(result)
                failure = result.failure
                reason = failure.user_message() if failure else "The provider reported failure."
                code = f" (code {failure.code})" if failure and failure.code else ""
                raise GenerateFailed(f"{reason}{code} Nothing should be billed for a failed task.")
            if result.state is not last_state or out.isatty():
                progress.show(result)
            last_state = result.state
    finally:
        progress.done()


async def _download(session: aiohttp.ClientSession, result: PollResult, spec: ModelSpec,
                    task_id: str, out_dir: Path, settings: Settings) -> list[Path]:
    default_ext = ".mp4" if spec.result_kind is ResultKind.VIDEO else ".png"
    stem = f"{spec.model_id}-{task_id[:8]}"
    try:
        return [
            await download_result(session, url, out_dir, stem=stem, index=index,
                                  default_ext=default_ext, max_bytes=settings.max_result_bytes)
            for index, url in enumerate(result.result_urls)
        ]
    except (ResultTooLarge, ResultDownloadFailed) as exc:
        urls = " ".join(result.result_urls)
        raise GenerateFailed(f"{exc}; the result links (valid about 24 h): {urls}") from None


@contextlib.asynccontextmanager
async def _simulated(settings: Settings, speed: float):  # type: ignore[no-untyped-def]
    """Start the simulator in this process and point both providers at it."""
    from bot.simulator import (
        DEFAULT_MULEROUTER_KEY,
        DEFAULT_VTRIX_KEY,
        SimulatorConfig,
        SimulatorServer,
    )

    async with SimulatorServer(SimulatorConfig(speed=speed)) as server:
        yield settings.model_copy(update={
            "mulerouter_base_url": HttpUrl(server.base_url),
            "vtrix_base_url": HttpUrl(server.base_url),
            "mulerouter_api_key": SecretStr(DEFAULT_MULEROUTER_KEY),
            "vtrix_api_key": SecretStr(DEFAULT_VTRIX_KEY),
        })

