"""Settings for missingkids, read from the environment through django-environ.

Development (``DEBUG=true``, as ``make run`` sets) works with no configuration: SQLite in
the project folder and e-mail printed to the console. Production (``DEBUG`` unset or
false) refuses to start unless every value it needs is given; the error names the
variable. See the README for the full list.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# A file of settings is read only when ENV_FILE names it: make run and make test name the
# checkout's .env (which make install writes with DEBUG=true). A production server is
# configured by its real environment and never reads a .env it was not told to, so a
# development file left in the project folder cannot switch DEBUG on there. Real
# environment variables always win over the file.
_env_file = env.str("ENV_FILE", default="")
if _env_file:
    if not Path(_env_file).is_file():
        raise ImproperlyConfigured(f"ENV_FILE names {_env_file}, which is not a file.")
    environ.Env.read_env(_env_file)


def _required(name: str, value: object) -> None:
    if value in (None, "", []):
        hint = ""
        if not _env_file and (BASE_DIR / ".env").is_file():
            hint = (
                " (There is a .env file in the project folder, but settings files are read"
                " only when ENV_FILE names one: ENV_FILE=.env for development.)"
            )
        raise ImproperlyConfigured(f"Set the {name} environment variable.{hint}")


DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str(
        "SECRET_KEY", default="django-insecure-development-only-key-never-used-in-production"
    )
else:
    # Never defaulted: a production server without its own key must not start.
    SECRET_KEY = env.str("SECRET_KEY", default="")
    _required("SECRET_KEY", SECRET_KEY)
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "SECRET_KEY must be a random value of at least 50 characters in production."
        )

if DEBUG:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    _required("ALLOWED_HOSTS", ALLOWED_HOSTS)

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "missingkids.accounts",
    "missingkids.audit",
    "incidents",
    "notifications",
    "oversight",
    "api",
    "guidance",
    "configuration",
    "missingkids.admin_site.ServiceAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_forms_gds",
    "simple_history",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "rest_framework",
    "drf_spectacular",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Any body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused (413), but the CSV import's upload.
    "missingkids.audit.middleware.request_size_limit",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Gives request.user.is_verified(): whether this session has passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    # Every page needs a signed-in user unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Who made each change on a case record (django-simple-history reads the request).
    "simple_history.middleware.HistoryRequestMiddleware",
    # Refused case URLs go to the access log; signed-in pages are never cached.
    "missingkids.audit.middleware.AccessLogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Signs out idle and over-long sessions, then keeps anyone who has not given the
    # second factor to the sign-in pages (both need messages, so they come after it).
    "missingkids.accounts.middleware.SessionLifetimeMiddleware",
    "missingkids.accounts.middleware.TwoFactorRequiredMiddleware",
    # A page reads the policy numbers (repeat threshold, stuck cases) at most once.
    "missingkids.policy.PolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the sign-in page's response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "missingkids.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "missingkids.context_processors.service",
            ],
            # {% stacked_table %} and |applied_filters, used by every list page.
            "builtins": ["missingkids.templatetags.layout"],
        },
    },
]

WSGI_APPLICATION = "missingkids.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if env.bool("DATABASE_POOL", default=False):
        # psycopg's connection pool, shared by the threads of one process (gunicorn
        # gthread workers): a request borrows a connection and gives it back at the end.
        # Django's persistent connections and the pool exclude each other. Server-side
        # cursors (streamed CSV downloads) stay on: each is used within one request, on
        # the connection that request holds. Behind a transaction-pooling PgBouncer set
        # DATABASE_DISABLE_SERVER_SIDE_CURSORS=true instead.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
    )
    # PostgreSQL's JIT compiler costs more than it saves on this service's short queries
    # (measured at 100,000 episodes: turning it off alone raised capacity by 60 % and cut
    # the heaviest child page from 2.4 s to 0.58 s). Off for the service's connections
    # unless DATABASE_JIT=true.
    if not env.bool("DATABASE_JIT", default=False):
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
    # Every server-side cursor here (the downloads, the returns, the visibility rebuild)
    # reads its whole result: plan its query for all rows, not for the first tenth (the
    # default 0.1 chose plans that took four times as long over a whole download).
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c cursor_tuple_fraction=1".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# A link to reset a forgotten password works for an hour (and once).
PASSWORD_RESET_TIMEOUT = 3600

# django-axes' backend first: it refuses a locked-out sign-in before the password is
# even checked. It needs the request, which the sign-in form passes.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Argon2 for new and changed passwords; the others only check passwords hashed before
# (they are rehashed with Argon2 at the next sign-in).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
# Times are stored in UTC and shown and entered in UK time (GMT/BST).
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Profile photos of children (the missing person profile) are case records: never in
# MEDIA_ROOT's public serving, only through a view that checks access. By default on
# this server's disk under PROFILE_PHOTO_ROOT; a deployment may point the
# "profile_photos" storage at object storage instead (PROFILE_PHOTO_STORAGE_BACKEND, with
# that backend's OPTIONS as JSON in PROFILE_PHOTO_STORAGE_OPTIONS), kept private.
PROFILE_PHOTO_ROOT = env.path("PROFILE_PHOTO_ROOT", default=BASE_DIR / "private-files")
_photo_backend = env.str(
    "PROFILE_PHOTO_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"
)
_photo_options = env.json("PROFILE_PHOTO_STORAGE_OPTIONS", default={}) or (
    {"location": str(PROFILE_PHOTO_ROOT)} if _photo_backend.endswith("FileSystemStorage") else {}
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "profile_photos": {"BACKEND": _photo_backend, "OPTIONS": _photo_options},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = ["gds"]
CRISPY_TEMPLATE_PACK = "gds"

SERVICE_NAME = "Missing children"
SERVICE_PARTNERSHIP = env.str("SERVICE_PARTNERSHIP", default="Local safeguarding partnership")

# The partnership admins, by e-mail address: the few people who manage agencies, areas
# and the notification rules and everyone's accounts, and who are told of every
# configuration change and second-factor reset. An account is one only if it also has
# the admin role. They are named here, by whoever runs the service, rather than by a
# flag in the database, so no one can be made a partnership admin from inside the
# service, not even by another partnership admin; every other admin is an agency admin
# (their own agency's people and contacts). Development default: the demo's admin.
PARTNERSHIP_ADMINS = [
    address.strip().lower()
    for address in env.list(
        "PARTNERSHIP_ADMINS", default=["admin@demo.example.org"] if DEBUG else []
    )
    if address.strip()
]
for _address in PARTNERSHIP_ADMINS:
    try:
        validate_email(_address)
    except ValidationError:
        raise ImproperlyConfigured(
            f"PARTNERSHIP_ADMINS must be e-mail addresses, separated by commas: {_address!r}"
        ) from None

# E-mail, through Django 6.1's MAILERS. Development prints messages to the console;
# production sends through the SMTP server named by EMAIL_URL, e.g.
# smtp+tls://user:password@smtp.example.org:587, with Django's SMTP backend
# (missingkids.mail: notification e-mails, which build their own bytes, are sent as built).
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="missingkids@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_email_url = env.str("EMAIL_URL", default="")
if _email_url:
    try:
        _email = environ.Env.email_url_config(_email_url)
    except Exception as error:
        raise ImproperlyConfigured(f"EMAIL_URL is not a valid e-mail URL: {error}") from None
    if not _email.get("EMAIL_HOST"):
        raise ImproperlyConfigured("EMAIL_URL must name an SMTP host.")
    # Notification e-mails name children: in production they go over TLS (smtp+tls://
    # or smtp+ssl://) unless the operator says plain SMTP is safe (a relay on this host).
    _encrypted = bool(_email.get("EMAIL_USE_TLS") or _email.get("EMAIL_USE_SSL"))
    if not (DEBUG or _encrypted or env.bool("EMAIL_ALLOW_UNENCRYPTED", default=False)):
        raise ImproperlyConfigured(
            "EMAIL_URL is plain SMTP: use smtp+tls:// or smtp+ssl://, or set "
            "EMAIL_ALLOW_UNENCRYPTED=true if the server is one the mail cannot be read on "
            "the way to (for example a relay on this machine)."
        )
    MAILERS = {
        "default": {
            "BACKEND": "missingkids.mail.EmailBackend",
            "OPTIONS": {
                "host": _email["EMAIL_HOST"],
                "port": _email.get("EMAIL_PORT") or 25,
                "username": _email.get("EMAIL_HOST_USER") or "",
                "password": _email.get("EMAIL_HOST_PASSWORD") or "",
                "use_tls": bool(_email.get("EMAIL_USE_TLS")),
                "use_ssl": bool(_email.get("EMAIL_USE_SSL")),
                "timeout": env.int("EMAIL_TIMEOUT", default=30),
            },
        }
    }
elif DEBUG:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    _required("EMAIL_URL", _email_url)
if not DEBUG:
    _required("DEFAULT_FROM_EMAIL", env.str("DEFAULT_FROM_EMAIL", default=""))
# The site's own address, for links in e-mails (acknowledgement links): the worker
# that sends them has no request to take the host from.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Notification e-mail delivery (notifications.sending): at least once, each message with
# one Message-ID of its own (<notification.ID.CREATED@EMAIL_MESSAGE_ID_DOMAIN>), so the
# rare second copy after a crash is recognisably the same message. A worker's claim on a
# message is a lease: after it runs out another worker sends the message again. A
# temporary failure (the mail server unreachable, a 4xx reply) is retried, at most
# EMAIL_RETRY_MAX_INTERVAL apart, until EMAIL_RETRY_WINDOW has passed since the first
# failure; a permanent refusal (a 5xx reply about the message or its recipient) fails
# at once.
EMAIL_CLAIM_LEASE = timedelta(minutes=env.int("EMAIL_CLAIM_LEASE_MINUTES", default=10))
EMAIL_RETRY_WINDOW = timedelta(hours=env.int("EMAIL_RETRY_WINDOW_HOURS", default=48))
EMAIL_RETRY_MAX_INTERVAL = timedelta(
    minutes=env.int("EMAIL_RETRY_MAX_INTERVAL_MINUTES", default=30)
)
# The scheduler reads only outbox events from a mark on (notifications.models.OutboxMark);
# a full check for events without a receipt, which moves the mark, runs this often.
# Longer than any transaction that writes an event can last.
OUTBOX_SWEEP_INTERVAL = timedelta(minutes=env.int("OUTBOX_SWEEP_INTERVAL_MINUTES", default=60))
# Notifications one worker claims at a time and sends over one connection to the mail
# server (the rest of a batch is given back if the worker stops or the server fails).
EMAIL_SEND_BATCH = env.int("EMAIL_SEND_BATCH", default=500)
# Connections to the mail server a worker sends a batch over at once, each in a thread
# of its own (each message waits for the server's replies; the others go on meanwhile).
# Default 4 with EMAIL_URL; 1 otherwise, so development's console e-mails print whole,
# one after another.
EMAIL_SEND_CONNECTIONS = env.int("EMAIL_SEND_CONNECTIONS", default=4 if _email_url else 1)
EMAIL_MESSAGE_ID_DOMAIN = env.str(
    "EMAIL_MESSAGE_ID_DOMAIN", default=urlsplit(SITE_URL).hostname or "localhost"
)
if EMAIL_SEND_BATCH < 1:
    raise ImproperlyConfigured("EMAIL_SEND_BATCH must be 1 or more.")
if not 1 <= EMAIL_SEND_CONNECTIONS <= 32:
    raise ImproperlyConfigured("EMAIL_SEND_CONNECTIONS must be between 1 and 32.")
if min(EMAIL_CLAIM_LEASE, EMAIL_RETRY_WINDOW, EMAIL_RETRY_MAX_INTERVAL) <= timedelta(0):
    raise ImproperlyConfigured(
        "EMAIL_CLAIM_LEASE_MINUTES, EMAIL_RETRY_WINDOW_HOURS and "
        "EMAIL_RETRY_MAX_INTERVAL_MINUTES must be more than 0."
    )

# The background processes (the e-mail worker and the scheduler, notifications.processes):
# after a database or mail server error they wait 1, 2, 4 ... seconds, never more than
# PROCESS_BACKOFF_MAX, and carry on. Each records a heartbeat at most every
# HEARTBEAT_EVERY; /healthz?full=1 fails when the latest is older than
# HEALTH_HEARTBEAT_MAX_AGE, or when an e-mail has waited to be sent longer than
# HEALTH_EMAIL_MAX_WAIT. Whether every migration is applied is checked at most every
# HEALTH_MIGRATIONS_CHECK_EVERY.
PROCESS_BACKOFF_MAX = timedelta(seconds=env.int("PROCESS_BACKOFF_MAX_SECONDS", default=300))
HEARTBEAT_EVERY = timedelta(seconds=env.int("HEARTBEAT_EVERY_SECONDS", default=30))
HEALTH_HEARTBEAT_MAX_AGE = timedelta(
    seconds=env.int("HEALTH_HEARTBEAT_MAX_AGE_SECONDS", default=600)
)
HEALTH_EMAIL_MAX_WAIT = timedelta(seconds=env.int("HEALTH_EMAIL_MAX_WAIT_SECONDS", default=900))
HEALTH_MIGRATIONS_CHECK_EVERY = timedelta(minutes=5)

# The reverse proxies in front of the application (addresses or networks). Only a
# request whose connection comes from one of them has its X-Forwarded-For believed, for
# the access log and the sign-in lockout (missingkids.audit.log.client_ip); from anywhere
# else the header is ignored, so a client cannot choose the address it is logged under.
# Production behind a proxy defaults to this machine, where the README's nginx runs.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=True)
TRUSTED_PROXIES = env.list(
    "TRUSTED_PROXIES", default=["127.0.0.1", "::1"] if BEHIND_PROXY and not DEBUG else []
)
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES must list IP addresses or networks: {_proxy!r} is neither."
        ) from None

# Security. The production values are what `manage.py check --deploy` asks for; a proxy
# in front terminates TLS and says so with X-Forwarded-Proto.
SESSION_COOKIE_HTTPONLY = True
# Enforced by missingkids.accounts.middleware.SessionLifetimeMiddleware: signed out after
# this long without using the service, and after this long signed in at all.
SESSION_IDLE_TIMEOUT = timedelta(minutes=env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30))
SESSION_ABSOLUTE_LIFETIME = timedelta(hours=env.int("SESSION_ABSOLUTE_HOURS", default=10))
if min(SESSION_IDLE_TIMEOUT, SESSION_ABSOLUTE_LIFETIME) <= timedelta(0):
    raise ImproperlyConfigured(
        "SESSION_IDLE_TIMEOUT_MINUTES and SESSION_ABSOLUTE_HOURS must be more than 0."
    )
# The cookie lasts until the browser closes; the stored session no longer than a sign-in
# may last, so no setting can keep one alive beyond the limits above.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_LIFETIME.total_seconds())

# Retention (oversight.retention): a child's record is kept until this birthday, then
# listed by `manage.py retention` for a partnership admin to erase. Unset: the default in
# missingkids.policy (25).
RECORD_RETENTION_AGE = env.int("RECORD_RETENTION_AGE", default=None)
if RECORD_RETENTION_AGE is not None and RECORD_RETENTION_AGE < 18:
    raise ImproperlyConfigured(
        "RECORD_RETENTION_AGE must be 18 or more: a child's record is kept at least until "
        "they are an adult."
    )

# Housekeeping (missingkids.accounts.housekeeping): expired sessions and spent lockout
# counters are cleared at most this often by the notification scheduler, or whenever
# `manage.py housekeeping` runs; the record of each pass is kept this long.
HOUSEKEEPING_INTERVAL = timedelta(hours=1)
HOUSEKEEPING_RUNS_KEPT = timedelta(days=90)

# Two-factor sign-in (django-otp). The issuer names the service in authenticator apps.
OTP_TOTP_ISSUER = SERVICE_NAME
# Admins may remove someone's authenticator (so they enrol again) but never see its key.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Lockout after repeated failed sign-ins (django-axes), whether or not the account exists:
# by e-mail address and network address together (5), by e-mail address from anywhere
# (20) and by network address for any accounts (50); wrong security codes only from the
# address they came from. See missingkids.accounts.lockout. Admins unlock on the admin's
# "Access attempts" page.
AXES_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=5)
SIGN_IN_ACCOUNT_FAILURE_LIMIT = env.int("SIGN_IN_ACCOUNT_FAILURE_LIMIT", default=20)
SIGN_IN_ADDRESS_FAILURE_LIMIT = env.int("SIGN_IN_ADDRESS_FAILURE_LIMIT", default=50)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGN_IN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
AXES_HANDLER = "missingkids.accounts.lockout.LockoutHandler"
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "missingkids.accounts.lockout.username_from_request"
AXES_LOCKOUT_CALLABLE = "missingkids.accounts.views.sign_in_locked_out"
AXES_RESET_ON_SUCCESS = True
# Never stored with an attempt: what was typed (a security code is as secret as a password).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code"]
# django-otp would slow a device down for everyone after wrong codes, so someone with a
# stolen password could keep its owner out; the lockout above counts them instead.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# One rule for the client's address, shared with the access log: from a trusted proxy it
# is the X-Forwarded-For entry the proxy added, not the proxy's own address (which would
# make every failure count against one address); from anyone else, their own address.
AXES_CLIENT_IP_CALLABLE = "missingkids.audit.log.client_ip"
# Successful sign-ins are recorded by the service's own access log; axes keeps only
# the failures it needs, and logs no e-mail or network address (its defaults mask them).
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin rather than no-referrer: links to other sites carry no referrer (our
# URLs hold record ids), while Django's CSRF check on HTTPS can still compare the
# Referer of a form post with our own origin.
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy: only our own files, and inline script or style only with the
# per-response nonce (templates use {{ csp_nonce }}). data: images for the QR code that
# enrols an authenticator app.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# No form needs more than a few hundred kilobytes: a larger body is refused before it is
# read (see request_size_limit). The one page that takes a file (the missing person
# profile's photo) has its own, larger limit there, from missingkids.policy.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# The admin's contact inlines are the largest forms; a thousand fields is ample.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The health check answers load balancers and monitors on plain HTTP too.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Asking browsers to preload HSTS for the whole domain (often a council's) is
        # the domain owner's decision and hard to undo, so it stays opt-in; without
        # this, `check --deploy --fail-level WARNING` fails on every default install.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    if BEHIND_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The API for partner agencies' systems (the api app): token-authenticated only (no
# sessions, so no CSRF), JSON only, errors as RFC 9457 problem details, and each
# registered system limited to API_RATE_LIMIT calls (per second, minute, hour or day);
# calls with no valid token, per address, to API_ANONYMOUS_RATE_LIMIT. The counts are
# kept in the database, so every process shares them (api.throttling).
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="120/minute")
API_ANONYMOUS_RATE_LIMIT = env.str("API_ANONYMOUS_RATE_LIMIT", default="30/minute")
for _name, _rate in (
    ("API_RATE_LIMIT", API_RATE_LIMIT),
    ("API_ANONYMOUS_RATE_LIMIT", API_ANONYMOUS_RATE_LIMIT),
):
    _count, _, _period = _rate.partition("/")
    if not (
        _count.isdigit() and int(_count) > 0 and _period in ("second", "minute", "hour", "day")
    ):
        raise ImproperlyConfigured(
            f"{_name} must be a number of calls per second, minute, hour or day, "
            f"such as 120/minute: {_rate!r} is not."
        )
# The events feed (/api/v1/events/): events a page gives unless the call asks for fewer
# (``limit``), and the most it may ask for.
API_EVENTS_PAGE_SIZE = 100
API_EVENTS_MAX_PAGE_SIZE = 1000

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.IsApiClient"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.ApiClientRateThrottle",
        "api.throttling.AnonymousRateThrottle",
    ],
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Missing children: API for partner agencies' systems",
    "DESCRIPTION": (
        "For police and council systems to report and update missing episodes without "
        "typing them twice. Every call names a registered system by its token "
        "(Authorization: Bearer ...); errors are RFC 9457 problem details."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RiskGradeEnum": "incidents.models.RiskGrade",
        "EpisodeRiskEnum": "incidents.models.EPISODE_RISK_CHOICES",
    },
}

# Logs never carry personal data: requests are logged by path and status only, and
# error e-mails to ADMINS are off (they would include request data).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "withhold_exception_messages": {
            "()": "missingkids.audit.logging.WithholdExceptionMessages",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["withhold_exception_messages"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        # django-axes reports every sign-in at INFO; only lockouts and failures matter.
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
