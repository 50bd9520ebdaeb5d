"""The Bitrix24 adapter: a REST client per portal for the ``voximplant.sip.*`` methods.

It knows neither RabbitMQ nor Voximplant.  Start from :class:`Bitrix24Clients` (one per
process, given the process's ``aiohttp.ClientSession`` and the settings).
"""

from worker.adapters.bitrix24.batch import BatchCall, CallOutcome
from worker.adapters.bitrix24.client import Bitrix24Client
from worker.adapters.bitrix24.core import ClientTuning
from worker.adapters.bitrix24.errors import ERROR_CLASSES, TokenExpired, error_class
from worker.adapters.bitrix24.limiter import PortalLimiter
from worker.adapters.bitrix24.models import ConnectorStatus, SipLine, SipStatus
from worker.adapters.bitrix24.observer import Bitrix24Observer, NullObserver
from worker.adapters.bitrix24.redact import mask_url
from worker.adapters.bitrix24.registry import Bitrix24Clients
from worker.adapters.bitrix24.tokens import TokenPair, TokenStore

__all__ = [
    "ERROR_CLASSES",
    "BatchCall",
    "Bitrix24Client",
    "Bitrix24Clients",
    "Bitrix24Observer",
    "CallOutcome",
    "ClientTuning",
    "ConnectorStatus",
    "NullObserver",
    "PortalLimiter",
    "SipLine",
    "SipStatus",
    "TokenExpired",
    "TokenPair",
    "TokenStore",
    "error_class",
    "mask_url",
]
