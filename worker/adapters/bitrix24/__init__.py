"""The Bitrix24 adapter: a REST client per portal for the ``voximplant.sip.*`` methods.

It knows neither RabbitMQ nor Voximplant.  Start from :class:`Bitrix24Portals` (one per
process, given the process's ``aiohttp.ClientSession``, its :class:`Bitrix24Settings`, the
token store and the portals): it gives each portal's gateway, whose ``client`` is the
portal's :class:`Bitrix24Client`.
"""

from worker.adapters.bitrix24.batch import BatchCall, CallOutcome
from worker.adapters.bitrix24.client import Bitrix24Client
from worker.adapters.bitrix24.errors import ERROR_CLASSES, TokenExpired, error_class
from worker.adapters.bitrix24.gateway import PortalGateway
from worker.adapters.bitrix24.limiter import PortalLimiter
from worker.adapters.bitrix24.models import ConnectorStatus, SipLine, SipStatus
from worker.adapters.bitrix24.redact import mask_url
from worker.adapters.bitrix24.registry import Bitrix24Portals
from worker.adapters.bitrix24.settings import Bitrix24Settings
from worker.adapters.bitrix24.tokens import TokenPair, TokenStore

__all__ = [
    "ERROR_CLASSES",
    "BatchCall",
    "Bitrix24Client",
    "Bitrix24Portals",
    "Bitrix24Settings",
    "CallOutcome",
    "ConnectorStatus",
    "PortalGateway",
    "PortalLimiter",
    "SipLine",
    "SipStatus",
    "TokenExpired",
    "TokenPair",
    "TokenStore",
    "error_class",
    "mask_url",
]
