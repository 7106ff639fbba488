"""A small fixed world for the managers' lists: children of the west council (which the
manager's agency serves) and of Liverpool (out of scope), with the clock pinned."""

from __future__ import annotations

import pytest
import time_machine

from tests.factories.incidents import ChildFactory

from .world import NOW


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def west_child(area_west, social_worker):
    def make(**kwargs):
        return ChildFactory(responsible_area=area_west, created_by=social_worker, **kwargs)

    return make


@pytest.fixture
def far_child(area_other, outsider):
    def make(**kwargs):
        return ChildFactory(responsible_area=area_other, created_by=outsider, **kwargs)

    return make
