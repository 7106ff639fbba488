from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.urls import include, path, reverse
from django.views.generic import RedirectView

from missingkids import health
from missingkids.accounts import password_reset
from missingkids.accounts import views as account_views
from missingkids.accounts.middleware import otp_not_required


class AdminSignInRedirect(RedirectView):
    """The admin has no sign-in page of its own: everyone signs in the same way.

    Someone already signed in who lands here is not an admin (the admin sent them to
    its login page): a 403, rather than a sign-in page that would send them straight
    back to the admin and round again.
    """

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        user = self.request.user
        if user.is_authenticated and not user.is_verified():
            # Half signed in (password only): the second step comes first.
            return f"{reverse('two_factor')}?{urlencode({'next': reverse('admin:index')})}"
        if user.is_authenticated:
            raise PermissionDenied("Only admins can use the configuration pages.")
        next_url = self.request.GET.get("next", "")
        login = reverse("login")
        return f"{login}?{urlencode({'next': next_url})}" if next_url else login


urlpatterns = [
    path("", account_views.home, name="home"),
    # No sign-in, no personal data, not in the access log (see missingkids.health).
    path("healthz", health.healthz, name="healthz"),
    path("sign-in/", account_views.SignInView.as_view(), name="login"),
    path("sign-out/", otp_not_required(account_views.SignOutView.as_view()), name="logout"),
    path(
        "password-reset/",
        login_not_required(otp_not_required(password_reset.password_reset)),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        login_not_required(otp_not_required(password_reset.password_reset_sent)),
        name="password_reset_sent",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        login_not_required(otp_not_required(password_reset.PasswordResetConfirmView.as_view())),
        name="password_reset_confirm",
    ),
    path("sign-in/two-factor/", account_views.two_factor_verify, name="two_factor"),
    path("sign-in/two-factor/set-up/", account_views.two_factor_enrol, name="two_factor_enrol"),
    path(
        "sign-in/two-factor/recovery-codes/",
        account_views.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("account/", account_views.account, name="account"),
    path(
        "account/recovery-codes/",
        account_views.account_recovery_codes_new,
        name="account_recovery_codes",
    ),
    path(
        "account/sign-out-everywhere/",
        account_views.account_sign_out_everywhere,
        name="account_sign_out_everywhere",
    ),
    path(
        "configuration-changes/",
        account_views.configuration_changes,
        name="configuration_changes",
    ),
    path("", include("incidents.urls")),
    path("notifications/", include("notifications.urls")),
    path("managers/", include("oversight.urls")),
    path("guidance/", include("guidance.urls")),
    path("agency-work/", include("oversight.agency_urls")),
    # CSV import for agencies without a connected system (children in care, missing reports).
    path("imports/", include("api.import_urls")),
    # Partner agencies' systems, by token (api.authentication), not by signing in.
    path("api/", include("api.urls")),
    # Admins' configuration pages; the Django admin below is for partnership admins.
    path("configuration/", include("configuration.urls")),
    path("admin/login/", login_not_required(AdminSignInRedirect.as_view())),
    path("admin/", admin.site.urls),
]
