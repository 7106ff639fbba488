"""The measures' episode lengths kept sorted and packed (``oversight.medians``) in place
of a JSON list: the page reads them as arrays and finds the medians by bisecting them,
where it parsed and sorted every number of the period.

Each kept month's list is carried over, sorted, so no month needs counting again.
"""

import json
import sys
from array import array

from django.db import migrations, models

# Rows a batch: a council's month can hold tens of thousands of lengths, read as floats.
BATCH = 20


def _packed(values):
    run = array("d", sorted(float(value) for value in values))
    if sys.byteorder == "big":
        run.byteswap()
    return run.tobytes()


def _unpacked(data):
    run = array("d")
    if data:
        run.frombytes(bytes(data))
        if sys.byteorder == "big":
            run.byteswap()
    return list(run)


def _carry(apps, read, write):
    """Each durations row's numbers, read from one field and written to the other."""
    MonthlyCount = apps.get_model("oversight", "MonthlyCount")
    rows = (
        MonthlyCount.objects.filter(measure="durations")
        .only("pk", "durations", "lengths")
        .order_by("pk")
    )
    last = 0
    while batch := list(rows.filter(pk__gt=last)[:BATCH]):
        for row in batch:
            write(row, read(row))
        MonthlyCount.objects.bulk_update(batch, ["lengths", "durations"])
        last = batch[-1].pk


def forwards(apps, schema_editor):
    def read(row):
        value = row.durations
        return json.loads(value) if isinstance(value, str) else (value or [])

    def write(row, values):
        row.lengths = _packed(values)

    _carry(apps, read, write)


def backwards(apps, schema_editor):
    def write(row, values):
        row.durations = values

    _carry(apps, lambda row: _unpacked(row.lengths), write)


class Migration(migrations.Migration):
    dependencies = [
        ("oversight", "0009_kept_strategy_discussions"),
    ]

    operations = [
        migrations.AddField(
            model_name="monthlycount",
            name="lengths",
            field=models.BinaryField(blank=True, default=bytes),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="monthlycount",
            name="durations",
        ),
    ]
