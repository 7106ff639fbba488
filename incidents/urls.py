from .views import children, episodes, interviews

app_name = "incidents"

urlpatterns = [
    *children.urlpatterns,
    *episodes.urlpatterns,
    *interviews.urlpatterns,
]
