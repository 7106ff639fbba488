"""Signals the notifications app sends for others to react to (it imports none of them).

``notifications_written`` is sent, in the same transaction, after notifications were
added or changed without ``post_save`` (``bulk_create``, ``QuerySet.update()``), with
``child_ids`` (the children they are about) and, for an update, ``fields`` (those of
``models.LISTED_FIELDS`` it changed; absent: any) and, when only some of those
children's notifications can have moved on a list, ``pks`` (those notifications'
ids; absent: any of theirs): whatever keeps rows derived from notifications (the
managers' overdue lists) brings them up to date.
"""

from django.dispatch import Signal

notifications_written = Signal()
