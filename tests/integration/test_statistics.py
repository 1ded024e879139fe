"""A read model's writer keeps the statistics of a table it fills fast (`statistics.py`)."""

from __future__ import annotations

import psycopg
import pytest

from timetracker.http.settings import Settings
from timetracker.projections.statistics import TableStatistics

pytestmark = pytest.mark.integration


def test_a_growing_table_is_analyzed_each_time_it_has_doubled(settings: Settings) -> None:
    with psycopg.connect(settings.conninfo) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE grown (n integer)")
        statistics = TableStatistics("grown", minimum=100)
        analyzed = []
        for _ in range(10):
            cursor.execute("INSERT INTO grown SELECT generate_series(1, 100)")
            analyzed.append(statistics.grew(cursor, 100))
        assert analyzed == [True, True, False, True, False, False, False, True, False, False]
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'grown'::regclass")
        assert cursor.fetchone() == (800.0,)


def test_a_table_already_large_waits_for_as_many_rows_again(settings: Settings) -> None:
    with psycopg.connect(settings.conninfo) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE large AS SELECT generate_series(1, 5000) AS n")
        cursor.execute("ANALYZE large")
        statistics = TableStatistics("large", minimum=100)
        assert not statistics.grew(cursor, 4999)
        assert statistics.grew(cursor, 1)
