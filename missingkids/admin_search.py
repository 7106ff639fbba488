"""The admin's search box (and the agency search behind its autocomplete fields) reads
what is typed as words to look for, whatever they are.

PostgreSQL text cannot hold a NUL character, so a search for one is a database error
rather than "nothing found": NUL is dropped from the words first. Every ModelAdmin of
the service, and the lockout pages of django-axes, search through this mixin.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest


class SearchMixin:
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, Any]:
        words = (search_term or "").replace("\x00", "")
        return super().get_search_results(request, queryset, words)  # type: ignore[misc]
