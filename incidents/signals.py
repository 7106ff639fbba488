"""Hooks through which other apps add to incidents pages without incidents importing them.

``episode_page_panels`` is sent by the episode page with ``episode``, ``user`` and
``request``; each receiver returns an HTML fragment (a ``SafeString`` rendered from a
template, so escaping has been done) or ``""``, shown in the page's notifications area.
"""

from django.dispatch import Signal

episode_page_panels = Signal()
