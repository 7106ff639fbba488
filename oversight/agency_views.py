"""What your agency must do: the home page's section and the full list behind it.

The rows come from ``oversight.agency_work`` (its docstring says what is listed, why it
lives in this app and how the access log treats it). The section reaches the home page
through ``missingkids.accounts.signals.home_page_sections``; the full list is a page of
its own, for anyone with a case role (403 for anyone else, admins included).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods

from incidents.access import has_case_role
from missingkids import keyset
from missingkids.accounts.models import User
from missingkids.accounts.signals import home_page_sections
from missingkids.audit.log import Action, log_access

from .agency_work import (
    agreed_action_counts,
    agreed_action_rows,
    agreed_actions_for,
    kinds_of_work,
    ordered,
    soonest,
    work_items,
)

# Rows on the home page; the full list has the rest, 25 a page like every list.
HOME_ROWS = 10
PAGE_SIZE = 25
# Things to do counted at most: beyond it the pages say "more than" this. Counting an
# agency's whole backlog on every home page would read all of it; this reads a bounded
# number of rows however large it grows.
COUNTED_AT_MOST = keyset.COUNTED_AT_MOST


def counted_rows(user: User) -> tuple[list[tuple[str, int, Any]], bool]:
    """The soonest COUNTED_AT_MOST rows of ``work_rows`` (every page offered), and
    whether there are more: one query, which reads each kind only as far as the bound
    from its index (the count and the page shown are both taken from these rows)."""
    at_most = COUNTED_AT_MOST
    rows = soonest(user, at_most + 1)
    return rows[:at_most], len(rows) > at_most


@receiver(home_page_sections, dispatch_uid="oversight_agency_work")
def agency_work_section(
    *, user: User, request: HttpRequest | None = None, **kwargs: Any
) -> SafeString | str:
    """The soonest ``HOME_ROWS`` things the agency must do: four queries at most."""
    if not has_case_role(user):
        return ""
    now = timezone.now()
    rows, more = counted_rows(user)
    total = len(rows)
    items = work_items(user, rows[:HOME_ROWS], now) if total else []
    today = timezone.localdate(now)
    actions = agreed_actions_for(user)
    counts = agreed_action_counts(actions, today)
    action_rows = agreed_action_rows(ordered(actions)[:HOME_ROWS], today) if counts["open"] else []
    if (items or action_rows) and request is not None:
        # The home page names children: logged as a list, like the full one.
        log_access(
            request,
            Action.VIEW_LIST,
            detail={
                "url_name": "home",
                "list": "agency work",
                "rows": len(items) + len(action_rows),
            },
        )
    return render_to_string(
        "oversight/agency_work_section.html",
        {
            "items": items,
            "total": total,
            "more": more,
            "agency": user.agency,
            "kinds": kinds_of_work(user.agency),
            "action_counts": counts,
            "actions": action_rows,
        },
        request=request,
    )


@require_http_methods(["GET"])
def agency_work_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not has_case_role(user):
        raise PermissionDenied("Only people who work on cases have work to do here.")
    now = timezone.now()
    # Counted up to a bound: the pages beyond it are not offered (the soonest come first).
    rows, more = counted_rows(user)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate(now)
    actions = agreed_actions_for(user)
    counts = agreed_action_counts(actions, today)
    action_pages = Paginator(ordered(actions), PAGE_SIZE)
    # The counts query already knows the total: no second count.
    action_pages.count = counts["open"]
    action_page = action_pages.get_page(request.GET.get("actions"))
    return render(
        request,
        "oversight/agency_work.html",
        {
            "page": page,
            "more": more,
            "items": work_items(user, page.object_list, now),
            "agency": user.agency,
            "kinds": kinds_of_work(user.agency),
            "action_counts": counts,
            "action_page": action_page,
            "actions": agreed_action_rows(action_page, today) if counts["open"] else [],
        },
    )
