from .views import children, corrections, episodes, interviews, oversight, story

app_name = "incidents"

urlpatterns = [
    *children.urlpatterns,
    *episodes.urlpatterns,
    *interviews.urlpatterns,
    *corrections.urlpatterns,
    *oversight.urlpatterns,
    *story.urlpatterns,
]
