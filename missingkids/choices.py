"""``get_FOO_display()`` from a table of labels made once a field.

Django rebuilds the table from the field's choices at every call, which is most of the
cost of printing a long record (a child's whole record names thousands of entries by
their kind). Choices here are fixed in the code, so the table is made once; the labels
stay lazy, so each call is still in the language of the moment."""

from __future__ import annotations

import functools
from typing import Any

from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable


@functools.cache
def _labels(field: models.Field) -> dict[Any, Any]:
    return dict(make_hashable(field.flatchoices))


class QuickChoiceLabels:
    """Mixed into a model whose ``__str__`` shows a choice's label."""

    def _get_FIELD_display(self, field: models.Field) -> str:
        value = getattr(self, field.attname)
        return force_str(_labels(field).get(make_hashable(value), value), strings_only=True)


def labels(model: type[models.Model], name: str) -> dict[Any, str]:
    """A field's choice labels as text, in the language of the moment, for writing
    many rows: ``labels(...).get(value, value)`` is ``get_FOO_display()``."""
    field = model._meta.get_field(name)
    return {value: force_str(label) for value, label in _labels(field).items()}
