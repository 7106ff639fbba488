"""Request-level protections: the body size limit, no caching, and the access log of
every case page shown or refused (see ``missingkids.audit.log``)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, ResolverMatch, resolve
from django.utils.cache import patch_cache_control

from missingkids import policy
from missingkids.policy import PROFILE_PHOTO_MAX_BYTES

from .log import LOGGED_ATTRIBUTE, Action, log_access, record_lookup

# URL namespaces whose pages show case records (the managers' views of them, and the
# list of what an agency must do): a page shown there is logged, and so is a 403 or 404.
# The CSV import's upload page (api.import_urls, under /imports/).
IMPORT_UPLOAD_PATH = "/imports/new/"
CASE_NAMESPACES = frozenset({"incidents", "notifications", "oversight", "agency_work"})


def request_size_limit(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Refuse any request body over DATA_UPLOAD_MAX_MEMORY_SIZE with 413.

    Django applies that limit to form posts, but not to the file parts of a multipart
    body, which it would stream to disk. One limit for every body, checked before
    anything reads it, except the pages that take a file: the CSV import's upload page
    (up to ``IMPORT_UPLOAD_MAX_BYTES``) and the profile's photo (``UPLOAD_VIEWS``), whose
    limits leave room for a file somewhat over the file's own limit, so that a file a
    little too large gets its message by the field rather than this page.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.path_info == IMPORT_UPLOAD_PATH:
            # The one page that takes a file (a CSV import): it says itself when the file
            # is over IMPORT_MAX_FILE_BYTES, up to this bound.
            limit = policy.IMPORT_UPLOAD_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit and _takes_upload(request):
            limit = max(limit, UPLOAD_BODY_MAX_BYTES)
        if limit is not None and length > limit:
            if request.path_info.startswith("/api/"):
                # The API answers in problem details (RFC 9457), as api.problems does.
                return JsonResponse(
                    {
                        "type": "about:blank",
                        "title": "Content Too Large",
                        "status": 413,
                        "detail": f"The body is over the limit of {limit} bytes.",
                        "instance": request.path,
                    },
                    status=413,
                    content_type="application/problem+json",
                )
            return HttpResponse(
                "The information sent was too large. Shorten it and try again.",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        return get_response(request)

    return middleware


# The pages that take a file, and the largest body they read: twice the photo limit.
UPLOAD_VIEWS = frozenset({"incidents:profile_edit"})
UPLOAD_BODY_MAX_BYTES = 2 * PROFILE_PHOTO_MAX_BYTES


def _takes_upload(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).view_name in UPLOAD_VIEWS
    except Resolver404:
        return False


def _record_ids(request: HttpRequest) -> tuple[int | None, int | None, int | None]:
    """(child id, episode id, notification id) named by a case URL's kwargs."""
    match = request.resolver_match
    if match is None:
        return None, None, None
    kwargs = match.kwargs
    child_id = kwargs.get("child_pk")
    episode_id = notification_id = None
    if "pk" in kwargs:
        if match.namespace == "notifications":
            notification_id = kwargs["pk"]
        elif match.route.startswith("children/"):
            child_id = kwargs["pk"]
        elif match.route.startswith("episodes/"):
            episode_id = kwargs["pk"]

    def as_id(value: object) -> int | None:
        return value if isinstance(value, int) else None

    return as_id(child_id), as_id(episode_id), as_id(notification_id)


class AccessLogMiddleware:
    """Logs every case page shown (unless its view logged it) and every refusal there."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Case data must not linger in a shared computer's browser cache or a proxy.
        # Every page this application renders gets no-store (static files are served
        # by WhiteNoise before this point, with their own long caching).
        if "no-store" not in response.get("Cache-Control", ""):
            patch_cache_control(response, no_store=True, private=True)
        match = request.resolver_match
        if match is None or match.namespace not in CASE_NAMESPACES:
            return response
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if response.status_code in (403, 404) and signed_in:
            child_id, episode_id, notification_id = _record_ids(request)
            detail = {"url_name": match.view_name, "method": request.method}
            if notification_id is not None:
                detail["notification_id"] = notification_id
            log_access(
                request,
                Action.REFUSED,
                child_id=child_id,
                episode_id=episode_id,
                status_code=response.status_code,
                detail=detail,
            )
        elif response.status_code == 200 and not getattr(request, LOGGED_ATTRIBUTE, False):
            self._log_page(request, response, match)
        return response

    def _log_page(self, request: HttpRequest, response: HttpResponse, match: ResolverMatch) -> None:
        """A page about a child (a form, a meeting or note page) or a list of children."""
        child_id, episode_id, notification_id = _record_ids(request)
        detail: dict[str, object] = {"url_name": match.view_name, "method": request.method}
        if notification_id is not None:
            detail["notification_id"] = notification_id
            child_id, episode_id = record_lookup("notification", notification_id)
        elif episode_id is not None and child_id is None:
            child_id, _ = record_lookup("episode", episode_id)
        names_record = any(v is not None for v in (child_id, episode_id, notification_id))
        action = Action.VIEW_PAGE if names_record else Action.VIEW_LIST
        log_access(
            request,
            action,
            child_id=child_id,
            episode_id=episode_id,
            status_code=response.status_code,
            detail=detail,
        )
