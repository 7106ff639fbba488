from .views import agreed_actions, children, corrections, episodes, interviews, oversight

app_name = "incidents"

urlpatterns = [
    *children.urlpatterns,
    *episodes.urlpatterns,
    *interviews.urlpatterns,
    *corrections.urlpatterns,
    *oversight.urlpatterns,
    *agreed_actions.urlpatterns,
]
