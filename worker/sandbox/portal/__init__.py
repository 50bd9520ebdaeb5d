"""The sandbox Bitrix24 portal: ``voximplant.sip.*`` with the documented rules and errors,
webhook and OAuth access, ``batch``, the leaky bucket, fault injection and counters.

Portals are served one per port (:class:`SandboxPortal`) or many on one port under
``/p/<domain>/`` (:class:`PortalHost`); both hand out a :class:`PortalHandle`.

Cloud lines register through the shared :class:`worker.sandbox.registrations.RegistrationStore`
that the sandbox Voximplant account reads too.
"""

from worker.sandbox.portal.app import build_app
from worker.sandbox.portal.dotenv import dotenv_lines
from worker.sandbox.portal.handle import PortalHandle
from worker.sandbox.portal.host import HostedPortal, PortalHost
from worker.sandbox.portal.oauth import IssuedTokens
from worker.sandbox.portal.options import Counters, Faults, PortalOptions
from worker.sandbox.portal.server import SandboxPortal
from worker.sandbox.portal.state import PortalState

__all__ = [
    "Counters",
    "Faults",
    "HostedPortal",
    "IssuedTokens",
    "PortalHandle",
    "PortalHost",
    "PortalOptions",
    "PortalState",
    "SandboxPortal",
    "build_app",
    "dotenv_lines",
]
