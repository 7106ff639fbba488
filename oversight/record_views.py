"""The export of a child's whole record for a subject access request (see
``oversight.subject_access``): a page to print, or with ``?format=json`` a download,
streamed as it is written."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from incidents import access
from missingkids.audit.log import log_export

from .subject_access import child_record, record_as_page, record_json_chunks, sections_html


@require_GET
def subject_access(request: HttpRequest, child_pk: int) -> HttpResponse:
    # 404 outside the person's scope, as for every record; 403 inside it without the right.
    child = access.get_child_for_user(request.user, child_pk)
    record = child_record(user=request.user, child=child)
    as_json = request.GET.get("format") == "json"
    log_export(
        request,
        what="subject_access",
        child_id=child.pk,
        format="json" if as_json else "page",
        **record.sections(),
    )
    if as_json:
        response = StreamingHttpResponse(
            record_json_chunks(record), content_type="application/json; charset=utf-8"
        )
        stamp = timezone.localtime(record.exported_at)
        response["Content-Disposition"] = (
            f'attachment; filename="child-{child.pk}-record-{stamp:%Y-%m-%d}.json"'
        )
        return response
    return render(
        request,
        "oversight/subject_access.html",
        {"record": record, "child": child, "sections_html": sections_html(record_as_page(record))},
    )
