"""Benchmark: what the blocklist catches, what it wrongly refuses, and what a check costs.

Run it from the repository root (it is a script, not a test; a few seconds)::

    .venv/bin/python bench/blocklist.py
    .venv/bin/python bench/blocklist.py --rounds 20   # more timing rounds

Why it exists: a blocklist entry that a zero-width space or a Cyrillic "о" walks around is not
worth having, one that refuses "grapes" or a French "fromage râpé" drives members away, and the
check runs before every generation command and button. The three figures:

1. refusal rate on the evasion set (``tests/fixtures/prompts/evasions.txt``: each disguised text
   against a blocklist holding its entry), target 100 %;
2. false-positive rate on the ordinary prompts (``ordinary_prompts.txt``, several languages)
   against the common list of a moderated server (``common_blocklist.txt``), target 0 %;
3. the median and 99th percentile time of one :func:`bot.policy.check_policy` (prompt and
   negative prompt) with a 200-entry list (the most a server may have: the common list, then
   made-up words, phrases, wildcards and non-Latin entries, the longest 100 characters), over
   every ordinary prompt and a 2,000-character one; also the one-off cost of building the
   Unicode tables and compiling the list.

What it must never do: talk to the network or write anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the data sets live in tests/, which is not installed

from bot import blocklist  # noqa: E402
from bot.policy import (  # noqa: E402
    MAX_BLOCKLIST,
    MAX_PATTERN_LENGTH,
    GuildPolicy,
    PolicyRefusal,
    blocked_term,
    check_policy,
)
from tests.test_blocklist import common_blocklist, evasions, ordinary_prompts  # noqa: E402

TARGET_MEDIAN_MS = 1.0
ARGUMENTS = {
    "model_id": "wan2.2-t2v-plus",
    "channel_id": 1,
    "parent_channel_id": None,
    "role_ids": set(),
    "is_staff": False,
    "age_restricted": False,
    "safety_filter": None,
}


def full_list(seed: int) -> list[str]:
    """The common list, filled up to the maximum with entries a server might add."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    entries = list(common_blocklist())
    while len(entries) < MAX_BLOCKLIST - 4:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
        kind = len(entries) % 5
        if kind == 0:
            word += "*"
        elif kind == 1:
            word += " " + "".join(rng.choice(letters) for _ in range(rng.randint(3, 8)))
        entries.append(word)
    entries += ["血腥暴力", "ゴア表現", "sang partout", ("a long phrase " * 8)[:99] + "z"]
    assert len(entries) == MAX_BLOCKLIST
    assert max(len(entry) for entry in entries) == MAX_PATTERN_LENGTH
    return entries


def check(policy: GuildPolicy, prompt: str, negative: str | None) -> None:
    with contextlib.suppress(PolicyRefusal):
        check_policy(policy, texts=[prompt, negative], **ARGUMENTS)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timing passes over the prompts")
    parser.add_argument("--seed", type=int, default=1, help="seed of the made-up entries")
    args = parser.parse_args(argv)
    lines: list[str] = []
    verdicts: list[bool] = []

    def figure(label: str, shown: str, target: str, ok: bool) -> None:
        verdicts.append(ok)
        lines.append(f"  {label:<52} {shown:>14}   target {target:<10} {'PASS' if ok else 'MISS'}")

    started = time.perf_counter()
    blocklist.warm_up()
    tables_ms = (time.perf_counter() - started) * 1000

    pairs = evasions()
    missed = [
        (entry, text)
        for entry, text in pairs
        if blocked_term(GuildPolicy(blocklist=[entry]), text) != entry
    ]
    caught = len(pairs) - len(missed)
    figure(
        "evasions refused (each by its own entry)",
        f"{caught}/{len(pairs)} {100 * caught / len(pairs):.1f} %",
        "100 %",
        not missed,
    )
    common = GuildPolicy(blocklist=common_blocklist())
    on_list = [(entry, text) for entry, text in pairs if entry in common.blocklist]
    caught_common = sum(1 for _, text in on_list if blocked_term(common, text) is not None)
    figure(
        f"evasions refused by the common list ({len(common.blocklist)} entries)",
        f"{caught_common}/{len(on_list)} {100 * caught_common / len(on_list):.1f} %",
        "100 %",
        caught_common == len(on_list),
    )
    prompts = ordinary_prompts()
    refused = [(prompt, term) for prompt in prompts if (term := blocked_term(common, prompt))]
    figure(
        "ordinary prompts refused by the common list",
        f"{len(refused)}/{len(prompts)} {100 * len(refused) / len(prompts):.1f} %",
        "0 %",
        not refused,
    )

    entries = full_list(args.seed)
    started = time.perf_counter()
    blocklist.compile_blocklist(tuple(entries))
    compile_ms = (time.perf_counter() - started) * 1000
    policy = GuildPolicy(blocklist=entries)
    negatives = [None, "blurry, low quality, watermark, text, deformed hands"]
    timings: list[float] = []
    for _ in range(args.rounds):
        for n, prompt in enumerate(prompts):
            started = time.perf_counter_ns()
            check(policy, prompt, negatives[n % 2])
            timings.append((time.perf_counter_ns() - started) / 1e6)
    long_prompt = ", ".join(prompts)[:2000]
    long_timings: list[float] = []
    for _ in range(args.rounds * 20):
        started = time.perf_counter_ns()
        check(policy, long_prompt, negatives[1])
        long_timings.append((time.perf_counter_ns() - started) / 1e6)
    median = statistics.median(timings)
    p99 = statistics.quantiles(timings, n=100)[98]
    figure(
        f"one check, {len(entries)} entries, median ({len(timings)} checks)",
        f"{median:.3f} ms",
        f"{TARGET_MEDIAN_MS:g} ms",
        median <= TARGET_MEDIAN_MS,
    )
    lines.append(f"  {'one check, 200 entries, p99':<52} {p99:>11.3f} ms")
    lines.append(
        f"  {'one check, 2,000-character prompt, median':<52} "
        f"{statistics.median(long_timings):>11.3f} ms"
    )
    lines.append(f"  {'once: Unicode and confusables tables':<52} {tables_ms:>11.1f} ms")
    lines.append(f"  {'once per list change: compile 200 entries':<52} {compile_ms:>11.1f} ms")
    for entry, text in missed:
        lines.append(f"  missed: {entry!r} in {text!r}")
    for prompt, term in refused:
        lines.append(f"  wrongly refused ({term}): {prompt}")
    print("blocklist")
    print("\n".join(lines))
    print(
        f"summary: {caught}/{len(pairs)} evasions refused, {len(refused)}/{len(prompts)} ordinary "
        f"prompts refused, median check {median:.3f} ms with {len(entries)} entries: "
        + ("PASS" if all(verdicts) else "MISS")
    )
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
