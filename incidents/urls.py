from .views import children, episodes, interviews, oversight

app_name = "incidents"

urlpatterns = [
    *children.urlpatterns,
    *episodes.urlpatterns,
    *interviews.urlpatterns,
    *oversight.urlpatterns,
]
