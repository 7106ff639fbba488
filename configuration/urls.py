"""The configuration pages, included at ``configuration/``."""

from django.urls import URLPattern, path

from . import views, views_notifications

app_name = "configuration"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("people/", views.people, name="people"),
    path("people/add/", views.person_add, name="person_add"),
    path("people/<str:pk>/", views.person, name="person"),
    path("people/<str:pk>/change/", views.person_change, name="person_change"),
    path("people/<str:pk>/unlock/", views.person_unlock, name="person_unlock"),
    path(
        "people/<str:pk>/second-factor/",
        views.person_second_factor,
        name="person_second_factor",
    ),
    path("agencies/", views.agencies, name="agencies"),
    path("agencies/add/", views.agency_add, name="agency_add"),
    path("agencies/<str:pk>/", views.agency, name="agency"),
    path("agencies/<str:pk>/change/", views.agency_change, name="agency_change"),
    path("agencies/<str:pk>/contacts/add/", views.contact_add, name="contact_add"),
    path("contacts/<str:pk>/change/", views.contact_change, name="contact_change"),
    path("contacts/<str:pk>/remove/", views.contact_remove, name="contact_remove"),
    path("areas/", views.areas, name="areas"),
    path("areas/add/", views.area_add, name="area_add"),
    path("areas/<str:pk>/change/", views.area_add, name="area_change"),
    path("rules/", views.rules, name="rules"),
    path("rules/add/", views.rule_add, name="rule_add"),
    path("rules/add/check/", views.rule_add_check, name="rule_add_check"),
    path("rules/<str:pk>/", views.rule, name="rule"),
    path("rules/<str:pk>/change/", views.rule_change, name="rule_change"),
    path("rules/<str:pk>/check/", views.rule_check, name="rule_check"),
    path("notifications/", views_notifications.notifications, name="notifications"),
    path("notifications/<str:pk>/", views_notifications.notification, name="notification"),
    path(
        "notifications/<str:pk>/queue-again/",
        views_notifications.requeue,
        name="notification_requeue",
    ),
    path("failed-emails/", views_notifications.failed, name="failed_emails"),
]
