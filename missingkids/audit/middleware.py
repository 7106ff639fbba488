"""Request-level protections: the body size limit, no caching, refused-access logging."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from .log import Action, log_access

# URL namespaces whose pages show case records (the managers' views of them, and the
# list of what an agency must do): a 403 or 404 there is a refused access.
CASE_NAMESPACES = frozenset({"incidents", "notifications", "oversight", "agency_work"})


def request_size_limit(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Refuse any request body over DATA_UPLOAD_MAX_MEMORY_SIZE with 413.

    Django applies that limit to form posts, but not to the file parts of a multipart
    body, which it would stream to disk. No page here takes uploads, so one limit for
    every body, checked before anything reads it.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return HttpResponse(
                "The information sent was too large. Shorten it and try again.",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        return get_response(request)

    return middleware


def _record_ids(request: HttpRequest) -> tuple[int | None, int | None]:
    """(child id, episode id) named by a case URL, as far as its kwargs say."""
    match = request.resolver_match
    if match is None:
        return None, None
    kwargs = match.kwargs
    child_id = kwargs.get("child_pk")
    episode_id = None
    if "pk" in kwargs:
        if match.route.startswith("children/"):
            child_id = kwargs["pk"]
        elif match.route.startswith("episodes/"):
            episode_id = kwargs["pk"]
    return (
        child_id if isinstance(child_id, int) else None,
        episode_id if isinstance(episode_id, int) else None,
    )


class AccessLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Case data must not linger in a shared computer's browser cache or a proxy.
        # Every page this application renders gets no-store (static files are served
        # by WhiteNoise before this point, with their own long caching).
        if "no-store" not in response.get("Cache-Control", ""):
            patch_cache_control(response, no_store=True, private=True)
        user = getattr(request, "user", None)
        match = request.resolver_match
        if (
            response.status_code in (403, 404)
            and match is not None
            and match.namespace in CASE_NAMESPACES
            and user is not None
            and user.is_authenticated
        ):
            child_id, episode_id = _record_ids(request)
            log_access(
                request,
                Action.REFUSED,
                child_id=child_id,
                episode_id=episode_id,
                status_code=response.status_code,
                detail={"url_name": match.view_name, "method": request.method},
            )
        return response
