"""Chaos (issue #10): the real bot between the Discord emulator and the provider simulator, with
faults on both sides at once and SIGKILLs, must lose nothing, post nothing twice and keep the
ledger equal to what every member's jobs cost.

One seeded run of about a minute (see :mod:`tests.chaos.harness` for what it does);
``bench/chaos.py`` runs the same harness for longer and prints the same figures. The assertions
are only the invariants, which hold under any fault schedule; counts that depend on timing
(how many were delivered, told, refused) are printed, never asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import ChaosPlan, run_chaos

PLAN = ChaosPlan(seed=7)


@pytest.mark.timeout(300)
async def test_chaos_loses_nothing_posts_nothing_twice_and_keeps_the_ledger(
    tmp_path: Path,
) -> None:
    report = await run_chaos(PLAN, tmp_path / "chaos")
    print(report.text())
    assert report.verdicts, f"no job was submitted at all:\n{report.text()}"
    assert report.lost == [], report.text()
    assert report.doubled == [], report.text()
    assert report.ledger_mismatches == [], report.text()
