"""The managers' overdue lists kept as rows (``oversight.due``).

A database that already holds records is marked unfilled: ``migrate`` then fills it
when it is small (``OversightConfig``'s post-migrate step), else the pages count from
the records until ``manage.py rebuild_due_items`` has run.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone


def mark_unfilled(apps, schema_editor):
    if apps.get_model("incidents", "Episode").objects.exists():
        apps.get_model("oversight", "DueState").objects.create(
            pk=1, filled=False, built_at=timezone.now()
        )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0010_housekeeping_clears_unimported_csv_files'),
        ('incidents', '0037_manager_list_indexes'),
        ('oversight', '0003_statutory_return_requests'),
    ]

    operations = [
        migrations.CreateModel(
            name='DueState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('filled', models.BooleanField(default=True)),
                ('built_at', models.DateTimeField()),
                ('stuck_threshold', models.PositiveSmallIntegerField(default=0)),
            ],
            options={
                'default_permissions': (),
            },
        ),
        migrations.CreateModel(
            name='DueItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=40)),
                ('item_id', models.BigIntegerField()),
                ('due_at', models.DateTimeField()),
                ('until', models.DateTimeField(blank=True, null=True)),
                ('sort_text', models.CharField(blank=True, max_length=200, null=True)),
                ('sort_num', models.IntegerField(default=0)),
                ('sort_flag', models.BooleanField(default=False)),
                ('sort_at', models.DateTimeField(blank=True, null=True)),
                ('agency', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='accounts.agency')),
                ('child', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='incidents.child')),
                ('viewer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.agency')),
            ],
            options={
                'default_permissions': (),
                'indexes': [models.Index(fields=['viewer', 'kind', 'due_at', 'until'], name='dueitem_count_idx'), models.Index(fields=['child', 'kind'], name='dueitem_child_idx'), models.Index(condition=models.Q(('kind__in', ['interviews_overdue', 'safe_and_well_outstanding'])), fields=['viewer', 'sort_at', 'item_id'], name='dueitem_oldest_first_idx'), models.Index(condition=models.Q(('kind__in', ['notifications_overdue', 'emails_failing'])), fields=['viewer', 'sort_text', 'sort_at', 'item_id'], name='dueitem_by_agency_idx'), models.Index(condition=models.Q(('kind', 'notification_problems')), fields=['viewer', '-sort_at', '-item_id'], name='dueitem_newest_first_idx'), models.Index(condition=models.Q(('kind', 'stuck_cases')), fields=['viewer', '-sort_num', '-sort_flag', 'sort_at', 'item_id'], name='dueitem_stuck_idx')],
                'constraints': [models.UniqueConstraint(fields=('viewer', 'kind', 'item_id'), name='dueitem_viewer_kind_item_uniq')],
            },
        ),
        migrations.RunPython(mark_unfilled, migrations.RunPython.noop),
    ]
