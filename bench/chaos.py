"""Chaos benchmark (issue #10): the chaos harness of ``tests/chaos`` for longer, printing figures.

Run it from the repository root (a script, not a test)::

    .venv/bin/python bench/chaos.py                          # 300 commands over 8 minutes
    .venv/bin/python bench/chaos.py --jobs 48 --minutes 0.67  # about what the suite's test does
    .venv/bin/python bench/chaos.py --help                   # every option

Many members run the four generation commands (both providers: every planned SIGKILL restarts
the bot with the other provider serving wan2.2-i2v-flash) while faults strike on both sides at
once: random provider 429/500/503/timeouts/malformed answers/dropped connections and task
failures, provider bursts and an outage; random Discord 429s and 5xx on posts and edits, a
multi-minute Discord 5xx outage of every channel route, Attach Files denied in one channel, a
deleted channel, a window of failing database writes, and SIGKILLs at planned moments. Then it
waits for quiet and prints: jobs submitted, delivered, told but not delivered (and why), lost
(must be 0), posted twice (must be 0), ledger mismatches (must be 0), and per member whether the
ledger equals what their jobs cost. Exit status 1 when an invariant is violated.

Everything runs on 127.0.0.1 and is removed on the way out (``--keep`` keeps the folder with
the database, ``bot.log`` and ``simulator.log``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.chaos.harness import ChaosPlan, run_chaos


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = ChaosPlan()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="schedule and simulator seed")
    parser.add_argument("--jobs", type=int, default=300, help="commands the members run")
    parser.add_argument(
        "--minutes", type=float, default=8.0, help="length of the active (fault) phase"
    )
    parser.add_argument(
        "--kills", type=int, default=None, help="SIGKILLs of the bot (default: one a minute)"
    )
    parser.add_argument(
        "--discord-outage",
        type=float,
        default=None,
        help="seconds of the Discord 5xx outage (default: 3 minutes, at most 40 %% of the run)",
    )
    parser.add_argument("--provider-outage", type=float, default=None, help="seconds (default: 45)")
    parser.add_argument(
        "--db-lock", type=float, default=None, help="seconds of failing DB writes (default: 40)"
    )
    parser.add_argument(
        "--video-deadline",
        type=float,
        default=None,
        help="WANBOT_VIDEO_DEADLINE_SECONDS (default: 1800 / speed, at least half the run)",
    )
    parser.add_argument(
        "--image-deadline",
        type=float,
        default=None,
        help="WANBOT_IMAGE_DEADLINE_SECONDS (default: 600 / speed, at least a third of the run)",
    )
    parser.add_argument(
        "--settle-minutes",
        type=float,
        default=20.0,
        help="longest wait for quiet after the faults stop",
    )
    parser.add_argument(
        "--speed", type=float, default=10.0, help="simulator speed (default: %(default)s)"
    )
    parser.add_argument("--provider-fault-rate", type=float, default=defaults.provider_fault_rate)
    parser.add_argument("--discord-fault-rate", type=float, default=defaults.discord_fault_rate)
    parser.add_argument("--no-attach-403", action="store_true", help="skip the 403 on attachments")
    parser.add_argument("--no-delete-channel", action="store_true", help="skip deleting #doomed")
    parser.add_argument("--no-db-lock", action="store_true", help="skip the failing-writes window")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--quiet", action="store_true", help="do not print the timeline live")
    return parser.parse_args(argv)


def plan_from_args(args: argparse.Namespace) -> ChaosPlan:
    seconds = args.minutes * 60
    return ChaosPlan(
        seed=args.seed,
        jobs=args.jobs,
        active_seconds=seconds,
        sim_speed=args.speed,
        kills=args.kills if args.kills is not None else max(2, round(args.minutes)),
        discord_outage_seconds=(
            args.discord_outage if args.discord_outage is not None else min(180.0, seconds / 2.5)
        ),
        provider_outage_seconds=(
            args.provider_outage if args.provider_outage is not None else min(45.0, seconds / 8)
        ),
        db_lock_seconds=args.db_lock if args.db_lock is not None else min(40.0, seconds / 6),
        settle_seconds=args.settle_minutes * 60,
        idle_exit_seconds=30.0,
        provider_fault_rate=args.provider_fault_rate,
        discord_fault_rate=args.discord_fault_rate,
        # Real-time deadlines scaled like the simulator's clock (30 and 10 minutes at speed 1),
        # unless given: never shorter than half (video) or a third (image) of the active phase.
        video_deadline=args.video_deadline or max(1800 / args.speed, seconds / 2),
        image_deadline=args.image_deadline or max(600 / args.speed, seconds / 3),
        attach_403=not args.no_attach_403,
        delete_channel=not args.no_delete_channel,
        db_lock=not args.no_db_lock,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = plan_from_args(args)
    folder = Path(tempfile.mkdtemp(prefix="wanbot-chaos-"))
    say = None if args.quiet else (lambda line: print(line, flush=True))
    print(f"chaos: {plan.describe()}; folder {folder}", flush=True)
    try:
        report = asyncio.run(run_chaos(plan, folder, say=say))
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    print(report.text())
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
