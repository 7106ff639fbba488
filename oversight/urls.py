"""The managers' pages, included at ``managers/``. Each list has its own URL name; its
CSV export is the same URL with ``?format=csv`` (and the same filters)."""

from django.urls import URLPattern, path

from . import record_views, return_views, views

app_name = "oversight"

urlpatterns: list[URLPattern] = [
    path("", views.dashboard, name="dashboard"),
    path("measures/", views.measures_view, name="measures"),
    # The SSDA903 Missing and Header tables and Annex A List 8: asked for, built in the
    # background, then checked and downloaded from the request's page.
    path("returns/", return_views.returns_view, name="returns"),
    path("returns/<int:return_pk>/", return_views.return_request_view, name="return_request"),
    path(
        "returns/<int:return_pk>/<slug:kind>.csv",
        return_views.return_download,
        name="return_download",
    ),
    # A child's whole record, for a subject access request (?format=json to download).
    path("children/<int:child_pk>/record/", record_views.subject_access, name="subject_access"),
    *(
        path(
            f"{page.slug.replace('_', '-')}/", views.list_view, {"slug": page.slug}, name=page.slug
        )
        for page in views.LISTS
    ),
]
