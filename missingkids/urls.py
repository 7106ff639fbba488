from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, reverse
from django.views.generic import RedirectView

from missingkids.accounts import views as account_views


class AdminSignInRedirect(RedirectView):
    """The admin has no sign-in page of its own: everyone signs in the same way."""

    query_string = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return reverse("login")


urlpatterns = [
    path("", account_views.home, name="home"),
    path("sign-in/", account_views.SignInView.as_view(), name="login"),
    path("sign-out/", account_views.SignOutView.as_view(), name="logout"),
    path("", include("incidents.urls")),
    path("admin/login/", login_not_required(AdminSignInRedirect.as_view())),
    path("admin/", admin.site.urls),
]
