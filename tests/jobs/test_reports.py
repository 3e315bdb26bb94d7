"""The CSV export adds up to exactly what ``usage()`` shows, from the same ledger rows."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.jobs.budget import Limits, period_start
from bot.jobs.records import NewJob
from bot.jobs.reports import CSV_COLUMNS, ledger_csv
from bot.jobs.store import SQLiteStore as Store

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC).timestamp()
MAY_31 = datetime(2025, 5, 31, 23, 30, tzinfo=UTC).timestamp()
JUNE_1 = datetime(2025, 6, 1, 0, 30, tzinfo=UTC).timestamp()
OPEN = Limits(max_concurrent_per_user=None)
GUILD, OTHER_GUILD = 10, 20


def new_job(
    user_id: int,
    guild_id: int | None,
    cost: str,
    *,
    model_id: str = "wan2.6-i2v",
    tier: str = "720P",
    units: str = "5",
    unit: str = "second",
) -> NewJob:
    return NewJob(
        user_id=user_id,
        guild_id=guild_id,
        channel_id=1,
        model_id=model_id,
        provider="mulerouter",
        request={"prompt": "p"},
        price_tier=tier,
        estimated_cost=Decimal(cost),
        units=Decimal(units),
        unit=unit,
        deadline_seconds=600.0,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "wanbot.sqlite3")
    try:
        await seed(opened)
        yield opened
    finally:
        await opened.close()


async def running(store: Store, job: NewJob, at: float) -> int:
    created = await store.create_job(job, OPEN, at)
    await store.claim_submission(created.id, at)
    await store.mark_running(created.id, f"task-{created.id}", at + 1, at + 2)
    return created.id


async def seed(store: Store) -> None:
    # guild 10
    await store.mark_succeeded(
        await running(store, new_job(1, GUILD, "0.50"), NOW), ["u"], None, NOW + 60
    )
    await store.mark_succeeded(
        await running(
            store, new_job(1, GUILD, "0.07", model_id="wan2.2-i2v-flash", tier="480P"), NOW + 1
        ),
        ["u"],
        Decimal("0.070001"),
        NOW + 61,
    )  # billed a millionth above the estimate
    await store.mark_failed(
        await running(
            store, new_job(2, GUILD, "0.10", model_id=("wan2.2-t2v-plus"), tier="480P"), NOW + 2
        ),
        "3001",
        "failed",
        NOW + 30,
    )
    await store.cancel(
        await running(store, new_job(2, GUILD, "1.00", units="10"), NOW + 3), NOW + 4, 2
    )
    await store.mark_succeeded(
        await running(
            store,
            new_job(
                3,
                GUILD,
                "0.09",
                model_id="wan2.5-i2i-preview",
                tier="image",
                units="3",
                unit="image",
            ),
            NOW + 5,
        ),
        ["a", "b", "c"],
        None,
        NOW + 65,
    )
    # guild 20, and a job outside any server
    never_sent = await store.create_job(new_job(1, OTHER_GUILD, "0.15"), OPEN, NOW + 6)
    await store.mark_timed_out(never_sent.id, NOW + 900, "not sent before its deadline")
    await running(store, new_job(4, OTHER_GUILD, "0.75"), NOW + 7)  # still running: reserved
    await store.mark_succeeded(
        await running(store, new_job(1, None, "0.02"), NOW + 8), ["u"], Decimal("0.013"), NOW + 70
    )
    # created in May, settled in June: counts in May
    await store.mark_succeeded(
        await running(store, new_job(1, GUILD, "0.50"), MAY_31), ["u"], Decimal("0.45"), JUNE_1
    )


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def sums(rows: list[dict[str, str]], column: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        key = row[column] or "None"  # usage() names the no-server group "None"
        totals[key] += Decimal(row["amount_usd"])
    return dict(totals)


async def test_header_and_one_row_per_ledger_entry(store: Store) -> None:
    text = await ledger_csv(store, since=0.0)
    header = text.splitlines()[0]
    assert header == (
        "entry_id,recorded_at_utc,period_utc,job_id,user_id,guild_id,model,"
        "entry,amount_usd,billed,job_state,note"
    )
    assert tuple(header.split(",")) == CSV_COLUMNS
    rows = parse(text)
    assert len(rows) == 17  # nine jobs: a reserve and a closing entry each, but the running one
    assert [int(r["entry_id"]) for r in rows] == sorted(int(r["entry_id"]) for r in rows)
    assert sum(Decimal(r["amount_usd"]) for r in rows) == await store.ledger_total()


async def test_values_are_exact_and_readable(store: Store) -> None:
    rows = parse(await ledger_csv(store, since=0.0))
    flash = [r for r in rows if r["model"] == "wan2.2-i2v-flash"]
    assert [(r["entry"], r["amount_usd"], r["billed"], r["job_state"]) for r in flash] == [
        ("reserve", "0.07", "no", "succeeded"),
        ("settle", "0.000001", "yes", "succeeded"),
    ]
    assert sum(Decimal(r["amount_usd"]) for r in flash) == Decimal("0.070001")
    assert all("E" not in r["amount_usd"] and "e" not in r["amount_usd"] for r in rows)
    failed = [r for r in rows if r["job_state"] == "failed"]
    assert [(r["entry"], r["amount_usd"], r["note"]) for r in failed] == [
        ("reserve", "0.1", "estimate reserved at submission"),
        ("release", "-0.1", "released: nothing delivered, nothing billed"),
    ]
    outside = [r for r in rows if r["guild_id"] == ""]
    assert {r["user_id"] for r in outside} == {"1"}
    assert sum(Decimal(r["amount_usd"]) for r in outside) == Decimal("0.013")
    first = rows[0]
    assert first["recorded_at_utc"] == "2025-06-18T12:00:00+00:00"
    assert first["period_utc"] == "2025-06-18T12:00:00+00:00"


async def test_sums_per_user_and_per_guild_equal_usage(store: Store) -> None:
    for period in ("all", "month", "today"):
        since = period_start(period, NOW)
        rows = parse(await ledger_csv(store, since=since))
        by_user = {row.key: row.total for row in await store.usage(group_by="user", since=since)}
        by_guild = {row.key: row.total for row in await store.usage(group_by="guild", since=since)}
        assert sums(rows, "user_id") == by_user, period
        assert sums(rows, "guild_id") == by_guild, period
        assert sum(by_user.values()) == await store.ledger_total(since=since)


async def test_exact_totals_for_this_month(store: Store) -> None:
    month = period_start("month", NOW)
    rows = parse(await ledger_csv(store, since=month))
    assert sums(rows, "user_id") == {
        "1": Decimal("0.583001"),  # 0.50 + 0.070001 + 0 (timed out) + 0.013
        "2": Decimal("1.00"),  # failed: 0; cancelled while running: the estimate
        "3": Decimal("0.09"),
        "4": Decimal("0.75"),
    }
    assert sums(rows, "guild_id") == {
        str(GUILD): Decimal("1.660001"),
        str(OTHER_GUILD): Decimal("0.75"),
        "None": Decimal("0.013"),
    }


async def test_period_filter_uses_the_job_creation_period(store: Store) -> None:
    may = parse(await ledger_csv(store, since=period_start("month", MAY_31)))
    june = parse(await ledger_csv(store, since=period_start("month", NOW)))
    may_only = [r for r in may if r not in june]
    assert [
        (r["entry"], r["amount_usd"], r["period_utc"], r["recorded_at_utc"]) for r in may_only
    ] == [
        ("reserve", "0.5", "2025-05-31T23:30:00+00:00", "2025-05-31T23:30:00+00:00"),
        ("settle", "-0.05", "2025-05-31T23:30:00+00:00", "2025-06-01T00:30:00+00:00"),
    ]
    assert len(june) == 15
    assert all(r["period_utc"].startswith("2025-06") for r in june)


async def test_guild_filter(store: Store) -> None:
    month = period_start("month", NOW)
    rows = parse(await ledger_csv(store, since=month, guild_id=GUILD))
    assert {r["guild_id"] for r in rows} == {str(GUILD)}
    assert len(rows) == 10
    (usage,) = await store.usage(group_by="guild", since=month, guild_id=GUILD)
    assert sum(Decimal(r["amount_usd"]) for r in rows) == usage.total == Decimal("1.660001")
    per_user = {
        row.key: row.total
        for row in await store.usage(group_by="user", since=month, guild_id=GUILD)
    }
    assert (
        sums(rows, "user_id")
        == per_user
        == {"1": Decimal("0.570001"), "2": Decimal("1.00"), "3": Decimal("0.09")}
    )
    other = parse(await ledger_csv(store, since=month, guild_id=OTHER_GUILD))
    assert sums(other, "user_id") == {"1": Decimal(0), "4": Decimal("0.75")}


async def test_empty_period_is_just_the_header(store: Store) -> None:
    text = await ledger_csv(store, since=NOW + 86_400)
    assert text == ",".join(CSV_COLUMNS) + "\n"
    assert parse(text) == []
