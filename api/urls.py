"""/api/v1/: token-authenticated, so every view is open to the site's sign-in
middleware (``login_not_required``) and checks its token itself."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from . import council, events, views

app_name = "api"


def _open(view):  # type: ignore[no-untyped-def]
    return login_not_required(view.as_view())


urlpatterns = [
    path("v1/schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path("v1/episodes/", _open(views.EpisodeListView), name="episodes"),
    path("v1/episodes/<int:pk>/", _open(views.EpisodeDetailView), name="episode"),
    path(
        "v1/episodes/<int:pk>/risk-gradings/",
        _open(views.RiskGradingView),
        name="episode_risk_gradings",
    ),
    path("v1/episodes/<int:pk>/return/", _open(views.ReturnView), name="episode_return"),
    path(
        "v1/episodes/<int:pk>/safe-and-well-check/",
        _open(views.SafeAndWellView),
        name="episode_safe_and_well",
    ),
    path("v1/events/", _open(events.EventFeedView), name="events"),
    path("v1/children/<str:la_child_id>/", _open(council.ChildView), name="child"),
    re_path(r"^(?P<rest>.*)$", _open(views.NotFoundView), name="not_found"),
]
