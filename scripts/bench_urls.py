"""The service's URLs plus the benchmark's floor: the cheapest page a signed-in request
can get, one indexed query over the episodes table, through the same middleware."""

import random

from django.http import HttpRequest, HttpResponse
from django.urls import path

from incidents.models import Episode
from missingkids.urls import urlpatterns as service

_top: list[int] = []


def floor(request: HttpRequest) -> HttpResponse:
    if not _top:  # read once per process
        _top.append(Episode.objects.order_by("-pk").values_list("pk", flat=True).first() or 1)
    start = random.randint(1, _top[0])  # noqa: S311
    seen = Episode.objects.filter(pk__gte=start).order_by("pk").values_list("last_seen_at")[:1]
    return HttpResponse(f"{list(seen)}", content_type="text/plain")


urlpatterns = [path("bench-floor/", floor, name="bench_floor"), *service]
