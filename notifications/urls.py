from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("acknowledge/<str:token>/", views.acknowledge, name="acknowledge"),
    path("<int:pk>/told/", views.record_told, name="record_told"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/queue-again/", views.requeue, name="requeue"),
]
