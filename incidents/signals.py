"""Hooks through which other apps add to incidents pages without incidents importing them.

``episode_page_panels`` is sent by the episode page with ``episode``, ``user`` and
``request``; each receiver returns an HTML fragment (a ``SafeString`` rendered from a
template, so escaping has been done) or ``""``, shown in the page's notifications area.
"""

from django.dispatch import Signal

episode_page_panels = Signal()

steps_already_told = Signal()
"""Sent by a correction, with ``episode`` and ``kinds`` (the CaseEvent kinds of the
record being corrected); a receiver returns True when someone has already been told of
that record (a notification sent, or recorded as told), so the correction needs a reason."""

records_updated = Signal()
"""Sent by ``actions.base.history_write`` and ``history_write_many`` (which follow every
change made with ``QuerySet.update()``, which sends no ``post_save``) with ``model`` and
``pks``, in the same transaction: whatever keeps rows derived from the records (the
managers' overdue lists) brings them up to date."""

visibility_changed = Signal()
"""Sent by ``incidents.visibility`` with ``child_ids`` (a set), in the same transaction,
after the agencies that may see those children changed."""
