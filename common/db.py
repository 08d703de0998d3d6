"""Fast bulk inserts for imports: COPY on PostgreSQL, executemany on other databases.

The ORM's bulk_create prepares every field of every row in Python, which dominates an import of
a million events; these rows are already plain database values.
"""

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Model


def rows_insert(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert `rows` (database-ready values, in `columns` order) into `model`'s table."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)
