"""E-mails to a council's managers about their children's records that need an answer.

Like the other notices to the people who run the service, they carry no case data (no
name, no detail of the request): only that something is waiting, for whom, and a link
that needs signing in.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from missingkids.accounts.emails import send_after_commit
from missingkids.accounts.models import Agency, User

from .models import InvolvementRequest


def responsible_council_managers(request: InvolvementRequest) -> list[str]:
    """The active managers of the councils serving the child's responsible area."""
    return list(
        User.objects.filter(
            is_active=True,
            role=User.Role.MANAGER,
            agency__active=True,
            agency__kind=Agency.Kind.LOCAL_AUTHORITY,
            agency__areas=request.child.responsible_area_id,
        )
        .values_list("email", flat=True)
        .distinct()
    )


def involvement_requested(request: InvolvementRequest) -> list[str]:
    """Tell the responsible council's managers a host council's request is waiting.

    Sent after the request commits; returns the addresses it goes to. The request is also
    on their home page ("What your agency must do") and on the child's page.
    """
    return send_after_commit(
        to=responsible_council_managers(request),
        name="involvement_requested",
        context={
            "requested_by_agency": request.requested_by_agency.name,
            "child_url": (
                f"{settings.SITE_URL}"
                f"{reverse('incidents:child_care', args=[request.child_id])}"
                "#requests"
            ),
        },
    )
