from .views import (
    agreed_actions,
    children,
    corrections,
    episodes,
    interviews,
    oversight,
    profiles,
    story,
)

app_name = "incidents"

urlpatterns = [
    *children.urlpatterns,
    *episodes.urlpatterns,
    *interviews.urlpatterns,
    *corrections.urlpatterns,
    *oversight.urlpatterns,
    *profiles.urlpatterns,
    *story.urlpatterns,
    *agreed_actions.urlpatterns,
]
