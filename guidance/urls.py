from django.urls import path

from . import views

app_name = "guidance"

urlpatterns = [
    path("", views.guidance_list, name="list"),
    path("new/", views.guidance_add, name="add"),
    path("<slug:slug>/", views.guidance_page, name="page"),
    path("<slug:slug>/change/", views.guidance_edit, name="edit"),
    path("<slug:slug>/versions/", views.guidance_versions, name="versions"),
    path("<slug:slug>/versions/<str:number>/", views.guidance_version, name="version"),
]
