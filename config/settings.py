"""Tessera's settings: every knob is an environment variable, read here and nowhere else.

The defaults run an embedded installation (SQLite, a filesystem broker, files under one data
directory) with no server to install. Production points ``DATABASE_URL`` at PostgreSQL and
``CELERY_BROKER_URL`` at Redis or RabbitMQ; the code is the same.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from config.broker import (
    BROKER_CONNECT_TIMEOUT_S,
    BROKER_SOCKET_TIMEOUT_S,
    EMBEDDED_BROKER_URL,
    broker_config,
    cache_config,
)
from config.knobs import knobs_check, parsed_rate

# Lets `admin.ModelAdmin[Model]` and friends be subscripted at run time, as the type stubs want.
django_stubs_ext.monkeypatch()

# Nothing is ever fetched from a model hub at run time: every model ships in a package.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local `.env` (written by `make run` on first start) is read if present; real env vars win.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

DEBUG: bool = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY: str = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_DEBUG is off (see .env.example).")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Data directory -------------------------------------------------------------------------
DATA_DIR = Path(env.str("TESSERA_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = DATA_DIR / "files"
MEDIA_URL = "/media/"  # never served publicly: originals go through permission-checked views
INDEX_DIR = DATA_DIR / "indexes"
for _directory in (DATA_DIR, MEDIA_ROOT, INDEX_DIR):
    _directory.mkdir(parents=True, exist_ok=True)

# --- Applications ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our own static files (offline)
    "django_htmx",
    "axes",  # sign-in throttling and lockout (see "Auth and sessions")
    "csp",  # django-csp: its system checks catch the pre-4.0 CSP_* settings
    "config",
    "governance",
    "ingest",
    "assistant",
    "evaluation",  # benchmark commands only (no models); the product never imports it
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "governance.middleware.TenantMiddleware",
    "governance.middleware.PasswordChangeRequiredMiddleware",
    "config.errors.ApplicationErrorMiddleware",
    "config.api.ApiMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as axes asks: turns a lockout into its 429 page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.context_processors.tenancy",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'tessera.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE avoids lock upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not ":memory:", so a worker process started by a test sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-tessera.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    # A database that does not answer fails a request in seconds (a 503), not at the TCP timeout.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
        "DATABASE_CONNECT_TIMEOUT", default=5
    )
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth and sessions ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): failures are counted per username AND per client address
# (either one locks); at the limit, sign-in is refused (429) for the cool-off, even with the right
# password, whether or not the account exists; a successful sign-in clears the user's own failures.
AUTHENTICATION_BACKENDS = [
    "governance.signin_lockout.SignInLockoutBackend",  # first: axes refuses a locked-out attempt
    "django.contrib.auth.backends.ModelBackend",
]
SIGNIN_FAILURE_LIMIT: int = env.int("TESSERA_SIGNIN_FAILURE_LIMIT", default=10)
SIGNIN_LOCKOUT_MINUTES: int = env.int("TESSERA_SIGNIN_LOCKOUT_MINUTES", default=15)
if SIGNIN_FAILURE_LIMIT < 1 or SIGNIN_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured(
        "TESSERA_SIGNIN_FAILURE_LIMIT and TESSERA_SIGNIN_LOCKOUT_MINUTES must be at least 1."
    )
AXES_FAILURE_LIMIT = SIGNIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=SIGNIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A lockout ends one cool-off after it began: attempts during it do not extend it, so nobody can keep
# someone else's account locked for ever. Only the user's own failures are cleared on success
# (governance.signin_audit), so one's own account cannot wipe an address's failures on others.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "governance.client_address.client_ip"  # REMOTE_ADDR unless proxies are trusted
AXES_LOCKOUT_CALLABLE = "governance.signin_lockout.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the tenant's audit trail (auth.*)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# HTTPS hardening: on by TESSERA_HTTPS=1 (production behind TLS); off for the local embedded run.
HTTPS: bool = env.bool("TESSERA_HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env.bool("TESSERA_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("TESSERA_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env.bool("TESSERA_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A strict Content-Security-Policy on every page: scripts, styles, fonts and requests only from
# Tessera itself, no inline script or style, no eval (htmx runs with allowEval off), no framing.
# Only ReDoc (/api/redoc/) relaxes, on its own response, what its renderer needs (config/api_docs.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve from the app's static folders too, so a forgotten collectstatic never breaks a page.
WHITENOISE_USE_FINDERS = True

# --- Celery ---------------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport (no server) and a filesystem result backend.
_broker = broker_config(
    env.str("CELERY_BROKER_URL", default=EMBEDDED_BROKER_URL),
    DATA_DIR,
    result_backend=env.str("CELERY_RESULT_BACKEND", default="") or None,
    visibility_timeout=env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
)
CELERY_BROKER_URL = _broker.broker_url
CELERY_RESULT_BACKEND = _broker.result_backend
CELERY_BROKER_TRANSPORT_OPTIONS = _broker.transport_options
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Bounded waits on the broker and a Redis result backend (config.broker): a send never holds a
# request for long; what could not be sent stays in the outbox (config.outbox).
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_CONNECT_TIMEOUT_S
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_CONNECT_TIMEOUT_S
CELERY_REDIS_SOCKET_TIMEOUT = BROKER_SOCKET_TIMEOUT_S
# The outbox's sweeper (run by beat; `manage.py serve` starts beat inside its worker).
CELERY_BEAT_SCHEDULE = {"outbox-sweep": {"task": "config.outbox_sweep", "schedule": 30.0}}

# --- Cache -----------------------------------------------------------------------------------
# Shared by every web process (API rate limits count per key across all of them): a folder under the
# data directory on the embedded default; Redis in production and CI (CACHE_URL=redis://host:6379/2).
CACHES = {"default": cache_config(env.cache_url("CACHE_URL", default=f"filecache://{DATA_DIR / 'cache'}"))}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["governance.authentication.HasTenant", "config.api.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.KeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Every API call, per key (or user). Asks have their own rate: TESSERA["ASK_RATE"].
        "api": env.str("TESSERA_API_RATE", default="600/minute"),
    },
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.TesseraAutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tessera API",
    "DESCRIPTION": (
        "Answers from your company's private documents, LLM-last. Authenticate with "
        "`Authorization: Bearer <key>` (a tenant API key, created by a tenant admin); errors are "
        "RFC 9457 problem details with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Tessera knobs (one namespaced dict, read by services, checked by config.knobs) ----------


TESSERA = {
    "DEMO_TENANT_SLUG": env.str("TESSERA_DEMO_TENANT", default="demo"),
    # Reverse proxies in front of Tessera that append to X-Forwarded-For (0: none, the client is
    # REMOTE_ADDR). Sign-in lockouts and the API-key throttle count per client address: never trust
    # the header without a proxy that writes it (governance.client_address).
    "TRUSTED_PROXY_COUNT": env.int("TESSERA_TRUSTED_PROXY_COUNT", default=0),
    # Wrong API keys one client address may present per window; beyond: 429 until the window ends.
    "API_KEY_FAILURE_LIMIT": env.int("TESSERA_API_KEY_FAILURE_LIMIT", default=20),
    "API_KEY_FAILURE_WINDOW_S": env.int("TESSERA_API_KEY_FAILURE_WINDOW_S", default=300),
    # Questions one user (or API key) may ask, over the chat, the REST API and the OpenAI-compatible
    # endpoint together, as (count, window in seconds); beyond: 429 with Retry-After. The old
    # TESSERA_API_ANSWER_RATE (API only) is read when this one is not set.
    "ASK_RATE": parsed_rate(
        "TESSERA_ASK_RATE",
        env.str("TESSERA_ASK_RATE", default=env.str("TESSERA_API_ANSWER_RATE", default="20/minute")),
    ),
    "MAX_UPLOAD_BYTES": env.int("TESSERA_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024),
    # Files one API upload request may carry (its body may then be this many times the file limit).
    "API_MAX_FILES_PER_REQUEST": env.int("TESSERA_API_MAX_FILES_PER_REQUEST", default=20),
    # Files up to this size are fully parsed during the upload, so a bad one is refused with a 4xx.
    "SYNC_PARSE_MAX_BYTES": env.int("TESSERA_SYNC_PARSE_MAX_BYTES", default=5 * 1024 * 1024),
    # auto (the fastest that builds: int8 ONNX), onnx, sentence-transformers (plain torch), fake.
    "EMBEDDER": env.str("TESSERA_EMBEDDER", default="auto"),
    # Models Tessera builds itself (the int8 ONNX export of the embedder), built once and reused.
    "MODELS_DIR": env.str("TESSERA_MODELS_DIR", default=str(DATA_DIR / "models")),
    # Ingestion hands the embedder 8 x this many chunks per call (a bound on memory); the ONNX embedder
    # cuts its own batches inside a call by a token budget (``retrieval.embedding.BATCH_TOKENS``).
    "EMBED_BATCH_SIZE": env.int("TESSERA_EMBED_BATCH_SIZE", default=32),
    "CHUNK_TARGET_TOKENS": env.int("TESSERA_CHUNK_TARGET_TOKENS", default=200),
    "CHUNK_OVERLAP_TOKENS": env.int("TESSERA_CHUNK_OVERLAP_TOKENS", default=32),
    # Chunks each search (dense, BM25) hands to fusion; threads for FAISS's search.
    "SEARCH_CANDIDATES": env.int("TESSERA_SEARCH_CANDIDATES", default=100),
    "SEARCH_THREADS": env.int("TESSERA_SEARCH_THREADS", default=1),
    "SEARCH_FUSION": env.str("TESSERA_SEARCH_FUSION", default="scores"),  # or "rrf"
    # Fused documents the late-interaction reranker reorders (0: no reranking).
    "RERANK_TOP_K": env.int("TESSERA_RERANK_TOP_K", default=30),
    # Chunks of those documents scored by late interaction, at most (each document's best fused
    # chunk, then the best of the others): bounds the stage's cost on long documents.
    "RERANK_CHUNKS": env.int("TESSERA_RERANK_CHUNKS", default=64),
    # Word pieces of evidence the LLM's prompt holds at most (assistant.answering.compose.EvidenceBudget):
    # more holds more of what a how-to answer needs, and costs prefill time before the first token.
    "EVIDENCE_TOKENS": env.int("TESSERA_EVIDENCE_TOKENS", default=700),
    # A tenant's vector index becomes approximate (IVF, rebuilt in the background) from this many
    # chunks; 0 keeps the measured default (retrieval.index_policy.ANN_THRESHOLD).
    "ANN_THRESHOLD": env.int("TESSERA_ANN_THRESHOLD", default=0),
    # Route each chat message with the intent router before anything else (assistant.routing.router):
    # small talk, out-of-scope requests, abuse and searches are answered without an LLM call.
    "INTENT_ROUTING": env.bool("TESSERA_INTENT_ROUTING", default=True),
    # Abstain ("not in your documents", no LLM call) when the answerability check finds the evidence
    # too weak (assistant.answering.decide); the threshold on p(answerable) overrides the model's own
    # (empty: the one stored with the model, chosen for at most ~3% false abstentions).
    "ANSWERABILITY": env.bool("TESSERA_ANSWERABILITY", default=True),
    "ANSWERABILITY_THRESHOLD": env.float("TESSERA_ANSWERABILITY_THRESHOLD", default=None),
    # The site's default LLM (a tenant may choose another of the operator's connections): local (the
    # embedded GGUF model, no server), openai (any OpenAI-compatible server at LLM_BASE_URL, the key
    # read from the environment variable NAMED by LLM_API_KEY_ENV) or extractive (no LLM).
    "LLM_PROVIDER": env.str("TESSERA_LLM_PROVIDER", default="local"),
    "LLM_MODEL": env.str("TESSERA_LLM_MODEL", default="qwen2.5-coder-1.5b-instruct-q4_k_m"),
    "LLM_BASE_URL": env.str("TESSERA_LLM_BASE_URL", default=""),
    "LLM_API_KEY_ENV": env.str("TESSERA_LLM_API_KEY_ENV", default=""),
    # More servers a tenant may choose by name (JSON; assistant.answering.llm.connections): tenants
    # never name a URL or a server variable. Every outbound request goes only to public addresses,
    # unless the host is named in OUTBOUND_ALLOWED_HOSTS (an LLM server on this machine or the
    # private network).
    "LLM_CONNECTIONS": env.json("TESSERA_LLM_CONNECTIONS", default={}),
    "OUTBOUND_ALLOWED_HOSTS": env.list("TESSERA_OUTBOUND_ALLOWED_HOSTS", default=[]),
    "LLM_TIMEOUT_S": env.float("TESSERA_LLM_TIMEOUT_S", default=60.0),
    "LLM_MAX_RETRIES": env.int("TESSERA_LLM_MAX_RETRIES", default=1),
    "LLM_MAX_TOKENS": env.int("TESSERA_LLM_MAX_TOKENS", default=320),
    "LLM_THREADS": env.int("TESSERA_LLM_THREADS", default=os.cpu_count() or 2),
    # Dollars per million tokens, [prompt, completion], by model name (JSON); unpriced models cost 0.
    "LLM_PRICES": env.json("TESSERA_LLM_PRICES", default={}),
    # The permission-aware answer cache (assistant.answering.cache; a tenant's settings override these):
    # a question whose embedding is at least THRESHOLD (cosine) close to one answered by the LLM
    # within the same permission scope reuses that answer and its citations, without an LLM call.
    "ANSWER_CACHE": env.bool("TESSERA_ANSWER_CACHE", default=True),
    "ANSWER_CACHE_THRESHOLD": env.float("TESSERA_ANSWER_CACHE_THRESHOLD", default=0.95),
    # Entries kept per tenant (the least recently used go first).
    "ANSWER_CACHE_MAX_ENTRIES": env.int("TESSERA_ANSWER_CACHE_MAX_ENTRIES", default=5000),
    # /api/schema/, /api/docs/ and /api/redoc/ answer only a signed-in member or a valid API key,
    # unless the operator publishes them (config/api_docs.py).
    "PUBLIC_API_DOCS": env.bool("TESSERA_PUBLIC_API_DOCS", default=False),
}
knobs_check(TESSERA)
# Fernet keys for the secrets tenants store (their own LLM key); empty: derived from SECRET_KEY.
TESSERA_ENCRYPTION_KEYS: list[str] = env.list("TESSERA_ENCRYPTION_KEYS", default=[])

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # faiss 1.15 is a dynamic-dispatch build: at import it logs at INFO which CPU-specific module
        # it tries and loads (AVX512, AVX2, ...), harmless lines a new user reads as errors
        "faiss.loader": {"level": "WARNING"},
    },
}
