from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

# (label, URL name, who sees it). Order is the order in the service navigation.
NAVIGATION: list[tuple[str, str, str]] = [
    ("Home", "home", "any"),
    ("Find a child", "incidents:child_search", "case"),
    ("Open episodes", "incidents:episode_list_open", "case"),
    ("My agency's recent work", "incidents:recent_work", "case"),
    ("Managers", "oversight:dashboard", "manager"),
    ("Configuration changes", "configuration_changes", "manager_or_admin"),
    ("Guidance", "guidance:list", "any"),
]

CASE_ROLES = ("practitioner", "manager")

# Items that stand for a whole section: current on any of the section's pages.
SECTIONS = {"guidance:list": "guidance:"}


def _is_current(view_name: str, url_name: str) -> bool:
    section = SECTIONS.get(url_name)
    return view_name.startswith(section) if section else view_name == url_name


def service(request: HttpRequest) -> dict[str, Any]:
    context: dict[str, Any] = {
        "service_name": settings.SERVICE_NAME,
        "service_partnership": settings.SERVICE_PARTNERSHIP,
    }
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return context
    match = getattr(request, "resolver_match", None)
    current = match.view_name if match else ""
    items = []
    for label, url_name, audience in NAVIGATION:
        if audience == "case" and user.role not in CASE_ROLES:
            continue
        if audience == "manager" and user.role != "manager":
            continue
        if audience == "manager_or_admin" and user.role not in ("manager", "admin"):
            continue
        items.append(
            {"label": label, "href": reverse(url_name), "current": _is_current(current, url_name)}
        )
    if user.is_staff:
        items.append(
            {
                "label": "Configuration",
                "href": reverse("configuration:index"),
                "current": current.startswith("configuration:"),
            }
        )
    context["navigation"] = items
    return context
