"""What your agency must do, included at ``agency-work/``: a case namespace, so refused
requests are written to the access log (``missingkids.audit.middleware``)."""

from django.urls import URLPattern, path

from . import agency_views

app_name = "agency_work"

urlpatterns: list[URLPattern] = [
    path("", agency_views.agency_work_list, name="list"),
]
