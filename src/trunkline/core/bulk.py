"""Inserting many rows of a model without building a model instance for each.

`bulk_create` prepares every value of every instance through its field and compiles a
placeholder for each; for rows whose values are nearly all the same (an outbox event and
its deliveries) that is most of the cost. Here the columns that differ row to row are
given ready for the database driver, and every other column gets one value, the field's
default or the one given, prepared once.
"""

from __future__ import annotations

from django.db import transaction


def rows_insert(model, columns: tuple[str, ...], rows: list[tuple], **same) -> None:
    """Insert `rows` (values for `columns`, already adapted for the driver) into the
    model's table; each other column takes `same[name]` or the field's default."""
    if not rows:
        return
    connection = transaction.get_connection()
    fields = {field.attname: field for field in model._meta.concrete_fields}
    unknown = (set(columns) | set(same)) - set(fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
    rest = [name for name in fields if name not in columns]
    constant = []
    for name in rest:
        field = fields[name]
        value = same[name] if name in same else field.get_default()
        constant.append(field.get_db_prep_save(value, connection))
    quote = connection.ops.quote_name
    names = ", ".join(quote(fields[name].column) for name in (*columns, *rest))
    marks = ", ".join(["%s"] * (len(columns) + len(rest)))
    constant = tuple(constant)
    with connection.cursor() as cursor:
        cursor.executemany(
            # names from the model's metadata; every value is a parameter
            f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})",  # noqa: S608
            [row + constant for row in rows],
        )
