"""``GET /api/v1/events/``: the protocol events of the children the system's agency may
see, oldest first, a page at a time, with a cursor that never skips one.

The cursor is the position ``(txid, id)`` of the last event given, in the order events
become final (``incidents.feed``): only events that no transaction still in progress can
come before are given, so an event committed late by a transaction that took a lower id
is given after the cursor rather than lost behind it. The cursor is opaque to systems
(base64 text); they follow ``next``.

Scope is the agency's at the time of the call (``children_visible_to``): a child placed
into the agency's area later brings no earlier events, and one who leaves it takes
theirs away. Each event carries what the agency's people see on the child's timeline
(``EventSerializer``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.access import children_visible_to
from incidents.feed import settled
from incidents.models import CaseEvent

from . import serializers as s
from .problems import Problem
from .views import PROBLEMS, ApiView

CURSOR_MARK = "e1"
# The largest txid or id a cursor may name (PostgreSQL's bigint).
MAX_POSITION = 2**63 - 1


def encode_cursor(txid: int, event_id: int) -> str:
    raw = f"{CURSOR_MARK}:{txid}:{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """(txid, id) from a cursor this API gave; ValueError for anything else."""
    if len(cursor) > 100:
        raise ValueError(cursor)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(cursor) from None
    mark, _, rest = raw.partition(":")
    txid, _, event_id = rest.partition(":")
    if mark != CURSOR_MARK or not txid.isdigit() or not event_id.isdigit():
        raise ValueError(cursor)
    position = int(txid), int(event_id)
    if max(position) > MAX_POSITION:
        raise ValueError(cursor)
    return position


def _invalid(field: str, detail: str) -> Problem:
    errors = [{"field": field, "detail": detail}]
    return Problem("invalid-request", 400, f"{field}: {detail}", errors)


def events_after(user: Any, position: tuple[int, int] | None, limit: int) -> list[CaseEvent]:
    """The next ``limit`` settled protocol events after ``position``, in feed order."""
    events = CaseEvent.objects.filter(
        kind__in=sorted(CaseEvent.PROTOCOL_KINDS), child__in=children_visible_to(user)
    )
    if position is not None:
        txid, event_id = position
        events = events.filter(txid__gte=txid).exclude(txid=txid, id__lte=event_id)
    events = settled(events, vendor=connection.vendor)
    return list(events.select_related("child", "actor_agency").order_by("txid", "id")[:limit])


@extend_schema(tags=["Events"])
class EventFeedView(ApiView):
    @extend_schema(
        operation_id="events_list",
        summary="The protocol events of the children the agency may see, oldest first",
        description="Reported missing, risk re-graded, found or returned, the safe and well "
        "check done or shared, return interview attempts, held or declined, and episodes "
        "closed, for every child the system's agency may see now. Start with no cursor; "
        "follow next until a page is empty, and later call next again for new events. "
        "No event is skipped, however writes interleave: an event appears once every "
        "transaction that started writing before it has ended.",
        parameters=[
            OpenApiParameter(
                "after",
                OpenApiTypes.STR,
                description="The cursor from the previous page's next (absent: the first).",
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"Events in a page: 1 to {settings.API_EVENTS_MAX_PAGE_SIZE} "
                f"(default {settings.API_EVENTS_PAGE_SIZE}).",
            ),
        ],
        responses={200: s.EventPageSerializer, **PROBLEMS},
    )
    def get(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - {"after", "limit"})
        if unknown:
            raise _invalid(unknown[0], "Not a parameter of the events feed.")
        limit_text = request.query_params.get("limit", "")
        if limit_text == "":
            limit = settings.API_EVENTS_PAGE_SIZE
        elif limit_text.isdigit() and 1 <= int(limit_text) <= settings.API_EVENTS_MAX_PAGE_SIZE:
            limit = int(limit_text)
        else:
            raise _invalid(
                "limit", f"A whole number from 1 to {settings.API_EVENTS_MAX_PAGE_SIZE}."
            )
        after = request.query_params.get("after", "")
        position: tuple[int, int] | None = None
        if after:
            try:
                position = decode_cursor(after)
            except ValueError:
                raise _invalid(
                    "after", "Not a cursor this API gave: use the next address as given."
                ) from None
        events = events_after(self.client().user, position, limit)
        if events:
            after = encode_cursor(events[-1].txid, events[-1].pk)
        query = {"after": after, "limit": limit} if after else {"limit": limit}
        data: dict[str, Any] = {
            "events": s.EventSerializer(events, many=True).data,
            "next": request.build_absolute_uri(f"{request.path}?{urlencode(query)}"),
        }
        return Response(data)
