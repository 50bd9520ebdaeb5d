"""What the upstreams refused, in the domain's terms: the errors the ports raise.

The adapters map their upstream's codes onto these classes, and the handlers catch them by
class, never by comparing code strings. Each keeps the upstream's code (``TITLE_EXISTS``,
``VOXIMPLANT_275`` …) so that events still say exactly what the upstream answered. All are
permanent: retrying the same call cannot change the answer.

::

    PermanentError (worker.errors)
    ├── TitleTaken              another line has this title
    ├── LineNotFound            no line with this CONFIG_ID
    ├── RegistrationNotFound    no registration with this id
    └── NeedsOperator           (dead-lettered for a replay once the set-up is fixed)
        └── ConnectorUnpaid     the SIP connector's licence does not allow cloud lines
"""

from __future__ import annotations

from worker.errors import NeedsOperator, PermanentError


class TitleTaken(PermanentError):
    """A line with this title exists (Bitrix24 ``TITLE_EXISTS``)."""

    code = "TITLE_EXISTS"


class LineNotFound(PermanentError):
    """The portal has no line with this ``CONFIG_ID`` (Bitrix24 ``ERROR_NOT_FOUND``)."""

    code = "ERROR_NOT_FOUND"


class RegistrationNotFound(PermanentError):
    """No such SIP registration (Bitrix24 ``REG_ID_NOT_FOUND``, Voximplant code 275)."""

    code = "REG_ID_NOT_FOUND"


class ConnectorUnpaid(NeedsOperator):
    """The portal's SIP connector is unpaid and has no free minutes: an operator must act."""

    code = "CONNECTOR_UNPAID"
