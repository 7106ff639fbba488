"""The managers' pages, included at ``managers/``. Each list has its own URL name; its
CSV export is the same URL with ``?format=csv`` (and the same filters)."""

from django.urls import URLPattern, path

from . import views

app_name = "oversight"

urlpatterns: list[URLPattern] = [
    path("", views.dashboard, name="dashboard"),
    path("measures/", views.measures_view, name="measures"),
    *(
        path(
            f"{page.slug.replace('_', '-')}/", views.list_view, {"slug": page.slug}, name=page.slug
        )
        for page in views.LISTS
    ),
]
