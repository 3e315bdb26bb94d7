"""Benchmark: a burst of members attaching a large, valid PNG to ``/wan-i2i`` at once.

Run it from the repository root (it is a script, not a test)::

    .venv/bin/python bench/image_burst.py               # 30 members, 2000×2000 PNG (~8.4 MB)
    .venv/bin/python bench/image_burst.py --help        # every option

Why it exists: every member got their acknowledgement within 30 ms, but the last "queued" reply
came 11.8 s after the burst, the bot CPU-bound on image checks that decoded each file twice
over and more. A file that needs no repair only needs its header read, its pixels decoded
once (to know it is whole) and its metadata dropped; this measures the time from the burst to
the last "Queued as job #…" reply, the median acknowledgement, and the bot's peak memory
(the bound of ``bench/image_memory.py`` must hold here too).

What is measured is the bot's own work, so nothing else may bind:

- The members each have one job at a time.
- Discord's writes are ``bench/discord_writes.py``'s subject, so they are kept out of the way:
  the members are spread over ``--channels`` channels (default 6, five members each). Each
  member's status message and its edits take writes in its channel's window, even at the
  raised 50 per 5 s. In one channel, 30 status posts plus their edits fill that window, and the
  last replies waited about 1.5 s for it, whatever the image work cost.
- Tasks take their documented time (``--speed 1``): upstream, no task finishes within the
  seconds measured. At the simulator's usual speed of 50, results were downloaded and posted
  during the burst, doing work no real burst has.

What it must never do: talk to anything but 127.0.0.1, or leave a process or temporary folder
behind.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from image_memory import TARGET_PEAK_MB, burst, summary
from PIL import Image

TARGET_LAST_QUEUED_S = 5.0


def busy_png(side: int, seed: int = 11) -> bytes:
    """A ``side``×``side`` RGB PNG of a gradient under fine noise: ~8.4 MB at 2000×2000."""
    rng = random.Random(seed)
    noise = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    gradient = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    out = io.BytesIO()
    Image.blend(gradient, noise, 0.11).save(out, "PNG")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=30)
    parser.add_argument("--side", type=int, default=2000)
    parser.add_argument(
        "--channels",
        type=int,
        default=6,
        help="channels the members are spread over (default 6: five members each)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second of a task (default 1: the documented times)",
    )
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    data = busy_png(args.side)
    folder = Path(tempfile.mkdtemp(prefix="wanbot-image-burst-"))
    try:
        result = asyncio.run(
            burst(
                members=args.members,
                command="wan-i2i",
                make_file=lambda i: (f"photo-{i}.png", data, "image/png"),
                options={"prompt": "make it autumn"},
                folder=folder,
                within=args.timeout,
                channels=args.channels,
                sim_speed=args.speed,
            )
        )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    queued = [a.final_at - result.started_at for a in result.answers if a.queued and a.final_at]
    last = max(queued, default=float("nan"))
    fast = len(queued) == args.members and last <= TARGET_LAST_QUEUED_S
    memory_ok = result.peak_rss_mb < TARGET_PEAK_MB
    print("=" * 80)
    print(
        f"wanbot image burst: {args.members} members in {args.channels} channels attach a "
        f"{args.side}×{args.side} PNG ({len(data) / 1e6:.1f} MB) to /wan-i2i at once"
    )
    print("=" * 80)
    for line in summary(result):
        print(line)
    if queued:
        print(
            f"  burst to last 'queued' reply   {last:.2f} s"
            f" (median {statistics.median(queued):.2f} s, first {min(queued):.2f} s)"
        )
    print(
        f"  every member queued within {TARGET_LAST_QUEUED_S:.0f} s: {'PASS' if fast else 'MISS'};"
        f" peak RSS < {TARGET_PEAK_MB:.0f} MB: {'PASS' if memory_ok else 'MISS'}"
    )
    return 0 if fast and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
