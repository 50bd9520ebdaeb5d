"""The one settings object, parsed once at the edge (the CLI) and passed down.

Every variable has the prefix ``SIPLINE_``; nested values (``SIPLINE_PORTALS``) are JSON.
``VOXIMPLANT_CREDENTIALS`` is also accepted, as the Voximplant clients use that name.
No other module reads the environment: :meth:`Settings.from_environment` is the entry
points' way in, and it refuses ``SIPLINE_*`` names that are no setting (a typo such as
``SIPLINE_PORTAL`` would otherwise start a worker with no portals, silently).

Validators never put a value in their messages: a value may be a secret.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

PositiveFloat = Annotated[float, Field(gt=0)]
PREFIX = "SIPLINE_"
# ``https://PORTAL[/PATH]/rest/USER_ID/CODE/``: the shape Bitrix24 gives an inbound webhook
_WEBHOOK_PATH = re.compile(r"^(/[^/]+)*/rest/[^/]+/[^/]+/?$")


def amqp_url_problem(url: str) -> str | None:
    """What is wrong with an AMQP URL, without quoting it (it holds a password), or None.

    The URL is checked before any I/O: a malformed one would otherwise have the connection
    library retry, or fail deep inside, for ever. ``#`` and ``?`` must be percent-encoded in
    a password (``%23``, ``%3F``); the virtual host is one path segment (``/`` in it is
    ``%2F``; ``amqp://host//`` is the default vhost ``/``).
    """
    if not url.strip():
        return "is empty; expected amqp://USER:PASSWORD@HOST:PORT/VHOST"
    if any(c.isspace() for c in url):
        return "contains whitespace"
    if "#" in url:
        return "contains '#', which ends a URL: percent-encode it as %23 (e.g. in the password)"
    parts = urlsplit(url)
    if parts.scheme not in ("amqp", "amqps"):
        return "must start with amqp:// or amqps://"
    return _amqp_authority_problem(parts)


def _amqp_authority_problem(parts: SplitResult) -> str | None:
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return (
            "has a port that is not a number from 1 to 65535 "
            "(a ':', '@', '/' or '?' in the password must be percent-encoded)"
        )
    if not host or port == 0:
        return "names no host" if not host else "has port 0"
    if "@" in parts.netloc.rsplit("@", 1)[0]:
        return "has an unencoded '@' in the user or password: percent-encode it as %40"
    vhost = parts.path[1:]
    if vhost not in ("", "/") and "/" in vhost:
        return "the virtual host (the path after the host) must be one segment: write '/' as %2F"
    return None


# where a portal that registered itself by installing the application is reached
APP_REST_URL = "https://{domain}/rest/"


class OAuthApp(BaseModel):
    """A Bitrix24 OAuth application installed on one portal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1, description="The application's client id.")
    client_secret: SecretStr = Field(description="The application's client secret.")
    access_token: SecretStr = Field(description="The current access token (lives 1 hour).")
    refresh_token: SecretStr = Field(description="The current refresh token (lives 180 days).")
    rest_url: AnyHttpUrl = Field(
        description="The portal's REST endpoint, e.g. https://example.bitrix24.ru/rest/"
    )
    server_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://oauth.bitrix24.tech/oauth/token/"),
        description="The OAuth server's token endpoint.",
    )


def _sweep_interval(value: float | None) -> float | None:
    """0 (no scheduled sweeps) or at least one second: each interval has a queue of its own."""
    if value is not None and 0 < value < 1:
        raise ValueError("must be 0 (off) or at least 1 second")
    return value


class PortalSettings(BaseModel):
    """How to reach one Bitrix24 portal, and the limits of its plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_url: SecretStr | None = Field(
        default=None,
        description="Inbound webhook base URL: https://PORTAL/rest/USER_ID/CODE/ (secret).",
    )
    oauth: OAuthApp | None = Field(default=None, description="OAuth application credentials.")
    plan: Literal["standard", "enterprise", "custom"] = Field(
        default="standard", description="Selects the leaky bucket: 50 @ 2/s or 250 @ 5/s."
    )
    bucket_capacity: int | None = Field(
        default=None, gt=0, description="Custom bucket size (overrides the plan)."
    )
    drain_per_second: float | None = Field(
        default=None, gt=0, description="Custom drain rate (overrides the plan)."
    )
    repair_policy: Literal["observe", "repair"] = Field(
        default="observe",
        description=(
            "observe: report divergences only; repair: re-apply a line's own Bitrix24 "
            "settings when it drifts or its registration is missing."
        ),
    )
    repair_budget: int | None = Field(
        default=None, ge=0, description="Repairs per line per hour (default 3)."
    )
    owns_voximplant_account: bool = Field(
        default=False,
        description="The Voximplant account serves this portal alone: sweeps report orphans.",
    )
    sweep_interval: float | None = Field(
        default=None,
        ge=0,
        description="Seconds between scheduled sweeps of this portal (0: none; empty: "
        "`SIPLINE_SWEEP_INTERVAL`). Needs the store, like every scheduled sweep.",
    )

    @field_validator("sweep_interval")
    @classmethod
    def _sweep_interval(cls, value: float | None) -> float | None:
        return _sweep_interval(value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        parts = urlsplit(value.get_secret_value())
        try:
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            host = None
        if parts.scheme not in ("http", "https") or not host or not _WEBHOOK_PATH.match(parts.path):
            raise ValueError(
                "is not an inbound webhook URL (expected https://PORTAL/rest/USER_ID/CODE/)"
            )
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> PortalSettings:
        if (self.webhook_url is None) == (self.oauth is None):
            raise ValueError("a portal needs exactly one of webhook_url or oauth")
        return self

    def bucket(self) -> tuple[int, float]:
        """The leaky bucket (capacity, drain per second) this portal's plan allows."""
        capacity, drain = (250, 5.0) if self.plan == "enterprise" else (50, 2.0)
        return (self.bucket_capacity or capacity, self.drain_per_second or drain)


class Settings(BaseSettings):
    """Everything the worker, the CLI and the sandbox can be told."""

    model_config = SettingsConfigDict(
        env_prefix="SIPLINE_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
    )

    # --- broker ---------------------------------------------------------------
    amqp_url: SecretStr = Field(
        default=SecretStr("amqp://guest:guest@localhost:5672/"),
        description="AMQP URL of the RabbitMQ broker.",
    )
    topology_prefix: str = Field(
        default="sipline",
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Prefix of every exchange and queue name.",
    )
    prefetch: int = Field(default=64, ge=1, le=65535, description="Messages in flight.")
    retry_delays: list[PositiveFloat] = Field(
        default=[1.0, 5.0, 30.0, 120.0, 600.0],
        min_length=1,
        description="Delay tiers in seconds; retry n waits the n-th (the last repeats).",
    )
    max_attempts: int = Field(
        default=6, ge=1, description="Attempts before a transient failure is dead-lettered."
    )
    delivery_limit: int = Field(
        default=20,
        ge=1,
        description="Broker-side redelivery limit of the command queue (poison messages).",
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=256, description="Largest command body.")
    shutdown_grace: PositiveFloat = Field(
        default=30.0, description="Seconds in-flight work may take to finish on SIGTERM."
    )
    connect_timeout: PositiveFloat = Field(
        default=30.0,
        description="Seconds `sipline run` may take to open its first broker connection "
        "(refused connections are retried meanwhile) before it exits 1.",
    )
    reconnect_timeout: PositiveFloat = Field(
        default=60.0, description="Seconds without a broker connection before the process exits."
    )
    events_max_bytes: int = Field(
        default=5 * 1024**3, ge=1024, description="Retention of the event log stream, in bytes."
    )
    events_max_age: str = Field(
        default="30D",
        pattern=r"^\d+[YMDhms]$",
        description="Retention of the event log stream by age (RabbitMQ syntax: 7D, 12h).",
    )

    # --- fleet (several processes, each portal owned by one; docs/operations.md) ------
    fleet: bool = Field(
        default=False,
        description=(
            "Run as one member of a fleet: portals are sharded across every process started "
            "with this on, one process per portal at a time."
        ),
    )
    shards: int = Field(
        default=16,
        ge=1,
        le=1024,
        description=(
            "Shard queues of a fleet; the same in every process. The broker keeps the count "
            "in use and a process with another refuses to start: stop the fleet and run "
            "`sipline fleet reshard` to change it (docs/operations.md)."
        ),
    )

    # --- Bitrix24 ---------------------------------------------------------------
    portals: dict[str, PortalSettings] = Field(
        default_factory=dict,
        description="Bitrix24 portals by domain (JSON).",
    )
    bitrix24_connect_timeout: PositiveFloat = Field(
        default=5.0, description="Seconds to open a connection to a Bitrix24 portal."
    )
    bitrix24_total_timeout: PositiveFloat = Field(
        default=65.0,
        description="Seconds one Bitrix24 request may take in all (a portal allows 60).",
    )
    bitrix24_token_store: Path = Field(
        default=Path("var/oauth-tokens.json"),
        description=(
            "Where refreshed OAuth tokens are kept by a process without a store. `sipline "
            "run` keeps them in the store, shared by every process, and moves this file's "
            "pairs there once at start (the file is renamed `*.migrated`)."
        ),
    )
    app_client_id: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The Bitrix24 application's client id. With it, any portal that installs the "
            "application (the install callback, `POST /bitrix24/install` on the HTTP port) "
            "is registered as an OAuth portal of this application; without it, only portals "
            "already registered with `sipline portals add --oauth` may install."
        ),
    )
    app_client_secret: SecretStr | None = Field(
        default=None,
        description="The Bitrix24 application's client secret (secret); needed with "
        "`SIPLINE_APP_CLIENT_ID`.",
    )
    app_oauth_server_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://oauth.bitrix24.tech/oauth/token/"),
        description=(
            "The OAuth token endpoint where portals registered by an install refresh their "
            "tokens (never taken from the install callback: the client secret goes only here)."
        ),
    )
    app_rest_url: str = Field(
        default=APP_REST_URL,
        description=(
            "The REST endpoint of a portal registered by an install, `{domain}` standing for "
            "the portal's domain (never taken from the install callback, whose "
            "`client_endpoint` anyone who can reach the URL could choose). Change it only for "
            "portals not served at their own domain, such as the sandbox's."
        ),
    )

    @field_validator("app_rest_url")
    @classmethod
    def _app_rest_url(cls, value: str) -> str:
        parts = urlsplit(value.replace("{domain}", "portal.example"))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError("expected an http(s) URL such as https://{domain}/rest/")
        return value if value.endswith("/") else value + "/"

    # --- store ------------------------------------------------------------------
    data_dir: Path = Field(
        default=Path("var"),
        description="Directory of the embedded store (`sipline.db`) when no store URL is set.",
    )
    store_url: SecretStr | None = Field(
        default=None,
        description=(
            "Where state lives: `sqlite:///PATH` (embedded, one host) or "
            "`postgresql://USER:PASSWORD@HOST:PORT/DB` (several processes or hosts). "
            "Empty: `sqlite:///DATA_DIR/sipline.db`."
        ),
    )
    store_schema: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema of the store's tables (empty: the server's default).",
    )
    store_key: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet key(s) encrypting the store's secrets, comma-separated: the first "
            "encrypts, all decrypt (rotation). `sipline store generate-key` makes one."
        ),
    )
    store_auto_upgrade: bool = Field(
        default=True,
        description="Apply pending store migrations at start; off: refuse to start until "
        "`sipline store upgrade` has run.",
    )
    store_poll_interval: PositiveFloat = Field(
        default=2.0,
        description="Seconds between two looks of a running worker at the portal registry "
        "(`sipline portals add/set/remove` take effect within this interval).",
    )

    @field_validator("store_url", "store_schema", "store_key", mode="before")
    @classmethod
    def _store_empty_is_unset(cls, value: object) -> object:
        """An empty ``SIPLINE_STORE_*`` means the default, as if it were not set."""
        return None if isinstance(value, str) and not value.strip() else value

    # --- Voximplant -------------------------------------------------------------
    voximplant_credentials: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SIPLINE_VOXIMPLANT_CREDENTIALS", "VOXIMPLANT_CREDENTIALS", "voximplant_credentials"
        ),
        description="Path of the service-account credentials.json.",
    )
    voximplant_api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.voximplant.com/platform_api/"),
        description="Base URL of the Voximplant Management API.",
    )
    voximplant_connect_timeout: PositiveFloat = Field(
        default=5.0, description="Seconds to open a connection to the Voximplant API."
    )
    voximplant_total_timeout: PositiveFloat = Field(
        default=30.0, description="Seconds one Voximplant request may take in all."
    )
    voximplant_token_lifetime: int = Field(
        default=3600, ge=60, le=3600, description="Lifetime of a signed JWT in seconds."
    )
    voximplant_api_key: SecretStr | None = Field(
        default=None,
        description="The Voximplant account's API key, which signs its account callbacks "
        "(secret; `sipline sandbox` writes it). With `SIPLINE_VOXIMPLANT_CALLBACK_SALT` it turns "
        "on `POST /voximplant/callbacks` on the HTTP port; without either the route answers 503.",
    )
    voximplant_callback_salt: SecretStr | None = Field(
        default=None,
        description="The `callback_salt` set on the Voximplant account with `SetAccountInfo` "
        "(secret, at most 40 characters; `sipline sandbox` writes it): each callback's hash is "
        "md5(salt + account_id + api_key + callback_id).",
    )

    # --- reconciliation -----------------------------------------------------------
    settle_deadline: PositiveFloat = Field(
        default=120.0, description="Seconds a registration may take to settle."
    )
    settle_intervals: list[PositiveFloat] = Field(
        default=[1.0, 2.0, 5.0, 10.0, 30.0],
        min_length=1,
        description="Growing re-check intervals while a registration settles.",
    )
    sweep_report_only_divergent: bool = Field(
        default=False,
        description="Emit line.reconciled in sweeps only for lines not in_sync (a scheduled "
        "sweep always does).",
    )
    sweep_interval: float = Field(
        default=300.0,
        ge=0,
        description="Seconds between the scheduled sweeps of a portal that sets no interval "
        "of its own (0: only portals that set one are swept on a schedule; at least 1 "
        "otherwise). Sweeps of many portals are spread over the interval.",
    )
    sweep_grace: PositiveFloat = Field(
        default=30.0,
        description="Seconds a portal's scheduled tick may be overdue before it counts as "
        "lost and is armed again (at the portal's next slot).",
    )

    @field_validator("sweep_interval")
    @classmethod
    def _default_sweep_interval(cls, value: float) -> float:
        checked = _sweep_interval(value)
        assert checked is not None
        return checked

    # --- observability ------------------------------------------------------------
    metrics_port: int | None = Field(
        default=9464, description="Prometheus and health port; empty or `off` to disable."
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the metrics and health endpoints listen on (0.0.0.0 in a container).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level of log line written."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="json: a JSON object per line; console: readable; auto: json off a terminal.",
    )

    @classmethod
    def from_environment(cls, env_file: Path | None = None, **overrides: Any) -> Settings:
        """The settings of the environment and ``env_file``, for an entry point.

        Raises :class:`UnknownSettings` for a ``SIPLINE_*`` name that is no setting (in the
        environment or the file), pydantic's ``ValidationError`` for a bad value and
        pydantic-settings' ``SettingsError`` for a value that is not JSON where JSON is due.
        """
        names = list(os.environ)
        if env_file is not None:
            from dotenv import dotenv_values

            names += [name for name in dotenv_values(env_file) if name]
        unknown = unknown_variables(names)
        if unknown:
            raise UnknownSettings(unknown)
        return cls(_env_file=env_file, **overrides)

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url_shape(cls, value: SecretStr) -> SecretStr:
        problem = amqp_url_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("metrics_port", "voximplant_credentials", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``SIPLINE_METRICS_PORT=`` (empty) disables metrics rather than failing."""
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @model_validator(mode="after")
    def _app_credentials_together(self) -> Settings:
        if (self.app_client_id is None) != (self.app_client_secret is None):
            raise ValueError(
                "SIPLINE_APP_CLIENT_ID and SIPLINE_APP_CLIENT_SECRET go together: set both or "
                "neither"
            )
        return self

    @field_validator("app_client_id", "app_client_secret", mode="before")
    @classmethod
    def _app_empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("portals", mode="before")
    @classmethod
    def _lower_domains(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k).lower(): v for k, v in value.items()}
        return value


def env_names(name: str, info: FieldInfo, prefix: str = PREFIX) -> list[str]:
    """The environment variables that set a field (the first is the one to document)."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str) and c.isupper()]
        if names:
            return names
    return [f"{prefix}{name.upper()}"]


def variable_names(field: str) -> list[str]:
    """The environment variables that set the setting ``field``."""
    return env_names(field, Settings.model_fields[field])


def known_variables() -> list[str]:
    return [name for field in Settings.model_fields for name in variable_names(field)]


class UnknownSettings(ValueError):
    """``SIPLINE_*`` names that set nothing; each problem names the closest real one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def unknown_variables(names: Iterable[str]) -> list[str]:
    """One problem per ``SIPLINE_*`` name (case-insensitive, as the settings read them)
    that is no setting, with the closest known name when one is close."""
    known = known_variables()
    problems = []
    for name in sorted({n.upper() for n in names if n.upper().startswith(PREFIX)}):
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(f"{name}: not a setting{hint} (see docs/configuration.md)")
    return problems
