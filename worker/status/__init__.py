"""Reading the line projection: what ``sipline status``, the JSON API and the status page show.

:mod:`.views` shapes store records for people and programs (pure: no I/O);
:mod:`.query` asks the store; :mod:`.text` lays tables out for a terminal or a pipe.
"""

from worker.status.query import Selection, StatusQuery, load_overview
from worker.status.views import (
    OUT_OF_SYNC,
    VERDICT_ORDER,
    Overview,
    PortalView,
    is_out_of_sync,
    line_json,
    portal_json,
)

__all__ = [
    "OUT_OF_SYNC",
    "VERDICT_ORDER",
    "Overview",
    "PortalView",
    "Selection",
    "StatusQuery",
    "is_out_of_sync",
    "line_json",
    "load_overview",
    "portal_json",
]
