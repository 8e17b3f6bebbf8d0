"""Admin pagination that never counts a whole large table."""

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections


class LargeTablePaginator(Paginator):
    """Count exactly up to a cap; past it, use the planner's row estimate for the whole table.

    A changelist page costs one bounded count instead of a full-table COUNT(*).
    """

    count_cap = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        bounded = queryset.order_by()[: self.count_cap + 1].count()
        if bounded <= self.count_cap:
            self.is_estimate = False
            return bounded
        self.is_estimate = True
        estimate = self._table_estimate(queryset) if not queryset.query.where else None
        return max(estimate or 0, self.count_cap)

    is_estimate = False

    @staticmethod
    def _table_estimate(queryset) -> int | None:
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return row[0] if row and row[0] > 0 else None
