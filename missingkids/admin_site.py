"""The Django admin, kept for the partnership admins' support work only.

Admins configure the service on its own pages (the ``configuration`` app, at
``/configuration/``). The Django admin stays for partnership admins (and superusers),
who need it for the odd support task the service's pages do not cover (connected
systems, the access log, lockouts, notifications); anyone else signed in is refused
with a 403 rather than sent round the sign-in page.
"""

from __future__ import annotations

from functools import update_wrapper
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

SUPPORT_ONLY_MESSAGE = (
    "The Django admin is for partnership admins' support only: use Configuration in the menu."
)


class ServiceAdminSite(admin.AdminSite):
    site_header = "Missing children: support"
    site_title = "Missing children support"
    index_title = "Support for partnership admins"

    def has_permission(self, request: HttpRequest) -> bool:
        # Imported here: this module is named in INSTALLED_APPS, read before models.
        from missingkids.accounts import access

        return access.is_partnership_admin(request.user)

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        wrapped = super().admin_view(view, cacheable)

        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied(SUPPORT_ONLY_MESSAGE)
            return wrapped(request, *args, **kwargs)

        return update_wrapper(inner, wrapped)


class ServiceAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the site above as ``admin.site``."""

    default_site = "missingkids.admin_site.ServiceAdminSite"
