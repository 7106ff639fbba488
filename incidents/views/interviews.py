"""Views: see the module docstring of incidents.access for who may see and do what."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
