"""/imports/: the CSV import's pages, for people signed in (``api.import_views``)."""

from django.urls import path

from . import import_views as views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    # missingkids.audit.middleware.IMPORT_UPLOAD_PATH: the one page that takes a file.
    path("new/", views.import_new, name="new"),
    path("templates/<str:kind>.csv", views.import_template, name="template"),
    path("<str:pk>/", views.import_detail, name="detail"),
    path("<str:pk>/import/", views.import_run, name="run"),
    path("<str:pk>/rejected-rows.csv", views.import_rejected, name="rejected"),
]
