"""The Voximplant Management API adapter: service-account JWT and ``GetSipRegistrations``.

Knows neither RabbitMQ nor Bitrix24; the runtime wires it with the process's HTTP session.
"""

from worker.adapters.voximplant.client import DEFAULT_API_URL, MAX_PAGE_SIZE, VoximplantClient
from worker.adapters.voximplant.credentials import (
    ServiceAccountCredentials,
    load_configured_credentials,
    load_credentials,
    parse_credentials,
)
from worker.adapters.voximplant.errors import AUTH_RETRY_CODES
from worker.adapters.voximplant.models import SipRegistration, SipRegistrationFilter
from worker.adapters.voximplant.token import MAX_TOKEN_LIFETIME, TokenCache, TokenSource, sign_token

__all__ = [
    "AUTH_RETRY_CODES",
    "DEFAULT_API_URL",
    "MAX_PAGE_SIZE",
    "MAX_TOKEN_LIFETIME",
    "ServiceAccountCredentials",
    "SipRegistration",
    "SipRegistrationFilter",
    "TokenCache",
    "TokenSource",
    "VoximplantClient",
    "load_configured_credentials",
    "load_credentials",
    "parse_credentials",
    "sign_token",
]
