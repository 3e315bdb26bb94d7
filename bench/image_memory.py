"""Benchmark: many members attach a pixel-bomb-sized PNG at once; how much memory does the bot use?

Run it from the repository root (it is a script, not a test)::

    .venv/bin/python bench/image_memory.py              # 20 members, 7000×7000 RGBA PNGs
    .venv/bin/python bench/image_memory.py --help       # every option

Why it exists: a PNG of 7000×7000 RGBA pixels compresses to about 0.2 MB but decodes to about
190 MB, and repairing it (flattening, scaling) held several copies: one such file peaked a
process at 658 MiB, and decoding ran on the default thread pool, several at once, before the
member's limits were looked at. This measures the bot process's peak memory while ``--members``
members each attach such a file to ``/wan-i2i`` at the same moment, and whether every one of
them got an answer (queued, or a refusal that says what to change).

What it does: starts the provider simulator in its own process (``bench/simulator_process.py``),
the Discord emulator in this process and the real, unmodified bot as a process against both
(``tests/emulator``, environment from ``tests/e2e/conftest.py``'s ``bot_env``); runs the slash
command for every member at once; waits for every final answer; reads the bot process's peak
RSS (``VmHWM`` of ``/proc/<pid>/status``; the launcher is the bot: it runs ``bot.__main__`` in
process) and also samples ``VmRSS`` every 20 ms. Exit status 0 only if every target passes.

:func:`burst` is shared with ``bench/image_burst.py``.

What it must never do: talk to anything but 127.0.0.1, or leave a process or temporary folder
behind (the simulator dies with it; the bot is stopped, then killed).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the emulator lives in tests/, which is not installed

from PIL import Image  # noqa: E402
from simulator_process import process_cpu_seconds, start_simulator  # noqa: E402

from tests.e2e.conftest import bot_env  # noqa: E402
from tests.emulator import BotProcess, DiscordEmulator, EmulatorConfig  # noqa: E402
from tests.emulator.handles import InteractionHandle  # noqa: E402

TARGET_PEAK_MB = 400.0
MB = 1024 * 1024


def rgba_bomb(side: int) -> bytes:
    """A ``side``×``side`` RGBA PNG of one flat colour: tiny on disk, huge decoded."""
    out = io.BytesIO()
    Image.new("RGBA", (side, side), (30, 90, 200, 255)).save(out, "PNG", optimize=True)
    return out.getvalue()


def proc_status_kib(pid: int, key: str) -> int | None:
    """A ``kB`` field (``VmRSS``, ``VmHWM``) of ``/proc/<pid>/status``, or None."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Answer:
    user: str
    sent_at: float  # loop time the command went out
    acked_at: float | None = None  # the first (thinking) response
    final_at: float | None = None  # the acknowledgement edited into its final words
    text: str = ""

    @property
    def queued(self) -> bool:
        return self.text.startswith("Queued as job #")


@dataclass
class BurstResult:
    answers: list[Answer]
    peak_rss_mb: float  # VmHWM of the bot process
    sampled_peak_mb: float  # the highest VmRSS sample
    rss_before_mb: float  # VmRSS just before the burst
    started_at: float  # loop time of the first command
    bot_cpu_s: float  # the bot process's CPU seconds from the burst to the last answer
    bench_cpu_s: float  # this process's (the emulator's) over the same span
    bot_log: str = field(repr=False, default="")
    # The provider simulator's CPU seconds over the burst, until 0.3 s after the last answer (it
    # shares the machine's cores with the bot).
    simulator_cpu_s: float = float("nan")

    def acks(self) -> list[float]:
        return [a.acked_at - a.sent_at for a in self.answers if a.acked_at is not None]

    def finals(self) -> list[float]:
        return [a.final_at - self.started_at for a in self.answers if a.final_at is not None]


async def burst(
    *,
    members: int,
    command: str,
    make_file: Callable[[int], tuple[str, bytes, str]],
    options: dict[str, str],
    folder: Path,
    within: float,
    extra_env: dict[str, str] | None = None,
    channels: int = 1,
    sim_speed: float = 50.0,
) -> BurstResult:
    """Every member runs ``command`` at once with their own file; wait for every final answer.

    With ``channels`` > 1 the members are spread over that many channels of the server (member
    ``k`` in channel ``k % channels``), so that no one channel's write window binds.
    ``sim_speed`` is the simulator's: simulated seconds per real second of a task."""
    sim = start_simulator(folder, speed=sim_speed)
    try:
        env = {
            **bot_env(folder, sim),  # type: ignore[arg-type]  # base_url is all it reads
            "MULEROUTER_API_KEY": sim.keys["mulerouter"],
            "VTRIX_API_KEY": sim.keys["vtrix"],
            # The members are limited to one job each; the channel's writes are not what is
            # measured here (bench/discord_writes.py measures them).
            "WANBOT_CHANNEL_WRITES_PER_5S": "50",
            **(extra_env or {}),
        }
        async with DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=1000)) as discord:
            users = [discord.add_user(f"member{i:03d}", roles=["member"]) for i in range(members)]
            rooms = ["general"] + [
                discord.guild.add_channel(f"burst-{k}").name for k in range(1, channels)
            ]
            files = [make_file(i) for i in range(members)]
            attachments = [
                discord.cdn.add(name, data, content_type) for name, data, content_type in files
            ]
            bot = BotProcess(discord, env=env)
            await bot.start()
            try:
                await discord.wait_ready(60, commands=True)
                assert bot.pid is not None
                sim_before = sim.cpu_seconds()
                result = await _drive(
                    discord, bot, bot.pid, users, rooms, attachments, command, options, within
                )
                result.simulator_cpu_s = sim.cpu_seconds() - sim_before
                return result
            finally:
                await bot.stop()
                (folder / "bot.log").write_text(bot.output + "\n", errors="replace")
    finally:
        sim.stop()


async def _drive(
    discord: DiscordEmulator,
    bot: BotProcess,
    pid: int,
    users: list[object],
    rooms: list[str],
    attachments: list[dict[str, object]],
    command: str,
    options: dict[str, str],
    within: float,
) -> BurstResult:
    loop = asyncio.get_running_loop()
    samples: list[int] = []
    sampling = True

    async def sample() -> None:
        while sampling:
            rss = proc_status_kib(pid, "VmRSS")
            if rss is not None:
                samples.append(rss)
            await asyncio.sleep(0.02)

    before = proc_status_kib(pid, "VmRSS") or 0
    sampler = asyncio.create_task(sample())
    cpu_before, own_before = process_cpu_seconds(pid), time.process_time()
    started = loop.time()
    sends = [
        discord.slash(
            user, rooms[k % len(rooms)], command, options, attachments={"image": attachment}
        )
        for k, (user, attachment) in enumerate(zip(users, attachments, strict=True))
    ]
    answers = [Answer(getattr(user, "name", str(user)), started) for user in users]
    handles: list[InteractionHandle] = await asyncio.gather(*sends)

    async def final(answer: Answer, handle: InteractionHandle) -> None:
        await handle.response(timeout=within)
        answer.acked_at = handle.answered_at
        message = await handle.wait_original(lambda m: not m.loading, timeout=within)
        answer.final_at, answer.text = message.updated_at, message.content

    await asyncio.gather(
        *(final(a, h) for a, h in zip(answers, handles, strict=True)), return_exceptions=True
    )
    cpu, own = process_cpu_seconds(pid) - cpu_before, time.process_time() - own_before
    await asyncio.sleep(0.3)  # let the bot finish posting what it was posting
    sampling = False
    await sampler
    peak = proc_status_kib(pid, "VmHWM") or 0
    return BurstResult(
        answers,
        peak_rss_mb=peak / 1024,
        sampled_peak_mb=max(samples, default=0) / 1024,
        rss_before_mb=before / 1024,
        started_at=started,
        bot_cpu_s=cpu,
        bench_cpu_s=own,
        bot_log=bot.output,
    )


def summary(result: BurstResult) -> list[str]:
    """Lines every image bench prints: answers, what they said, memory."""
    answered = [a for a in result.answers if a.final_at is not None]
    queued = [a for a in answered if a.queued]
    refusals = sorted({a.text for a in answered if not a.queued})
    acks = result.acks()
    lines = [
        f"  answered                       {len(answered)} of {len(result.answers)}"
        f" ({len(queued)} queued, {len(answered) - len(queued)} refused)",
        f"  acknowledgement after command  median {statistics.median(acks) * 1000:.0f} ms,"
        f" max {max(acks) * 1000:.0f} ms"
        if acks
        else "  acknowledgement               none",
        f"  bot RSS before the burst       {result.rss_before_mb:.0f} MB",
        f"  bot peak RSS (VmHWM)           {result.peak_rss_mb:.0f} MB"
        f" (highest 20 ms sample {result.sampled_peak_mb:.0f} MB)",
        f"  CPU from burst to last answer  bot {result.bot_cpu_s:.1f} s,"
        f" emulator (this process) {result.bench_cpu_s:.1f} s,"
        f" simulator {result.simulator_cpu_s:.1f} s",
    ]
    if refusals:
        lines.append(f"  {len(refusals)} distinct refusal(s), e.g.: {refusals[0]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--side", type=int, default=7000, help="PNG width and height")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    data = rgba_bomb(args.side)
    folder = Path(tempfile.mkdtemp(prefix="wanbot-image-memory-"))
    wall = time.monotonic()
    try:
        result = asyncio.run(
            burst(
                members=args.members,
                command="wan-i2i",
                make_file=lambda i: (f"big-{i}.png", data, "image/png"),
                options={"prompt": "make it autumn"},
                folder=folder,
                within=args.timeout,
            )
        )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    answered = sum(1 for a in result.answers if a.final_at is not None)
    peak_ok = result.peak_rss_mb < TARGET_PEAK_MB
    all_ok = answered == args.members
    print("=" * 80)
    print(
        f"wanbot image memory: {args.members} members attach a {args.side}×{args.side} RGBA PNG "
        f"({len(data) / 1e6:.2f} MB) to /wan-i2i at once"
    )
    print("=" * 80)
    for line in summary(result):
        print(line)
    print(
        f"  peak RSS < {TARGET_PEAK_MB:.0f} MB: {'PASS' if peak_ok else 'MISS'};"
        f" every member answered: {'PASS' if all_ok else 'MISS'}"
        f" ({time.monotonic() - wall:.0f} s wall)"
    )
    return 0 if peak_ok and all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
