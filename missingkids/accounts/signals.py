"""Hooks through which the apps above this one add to its pages without it importing them.

This app is the bottom layer: it knows nothing of children, episodes or notifications.
The home page is its page, yet what someone's agency must do lives in the apps above
(``oversight`` reads ``incidents`` and ``notifications``). So the home page sends
``home_page_sections``, with ``user`` and ``request``, and shows whatever comes back,
just as ``incidents.signals.episode_page_panels`` lets notifications add to the episode
page. Each receiver returns an HTML fragment (a ``SafeString`` rendered from a
template, so escaping has been done) or ``""`` when it has nothing for this person;
it decides who may see it, through the shared access helpers.
"""

from django.dispatch import Signal

home_page_sections = Signal()
