"""Voximplant's account callbacks: verify them, then turn each into ``line.reconcile``.

Voximplant POSTs ``{"callbacks": [AccountCallback, …]}`` to the URL set on the account
(``SetAccountInfo`` ``callback_url``/``callback_salt``); ``sip_registration_fail`` and
``sip_registration_recovered`` name registrations by ``sip_registration_id``. Each callback
is signed on its own: ``hash`` = md5(salt + account_id + api_key + callback_id).

::

    POST /voximplant/callbacks            worker/http/callbacks.py (thin: size, status codes)
       │ parse strictly                   model.py       → 400 on any shape error
       ▼
    CallbackIntake.take                   intake.py
       ├── verify each hash               signature.py   forged / unsigned / foreign_account
       ├── drop ids already recorded      the store      replayed (answered 200: handled)
       ├── sip_registration_id → lines    the store      none: an orphan, counted and logged
       ├── publish line.reconcile         CommandSink    confirmed; a deterministic id per
       │                                                 (account, callback, line)
       └── record the callback ids        the store      with the last callback per portal
    only then 200; the store or the broker failing → 503 so that Voximplant sends it again

Nothing here imports an adapter: the store is the :mod:`worker.store` port and the broker a
:class:`~worker.callbacks.intake.CommandSink`.
"""

from worker.callbacks.intake import (
    CallbackIntake,
    CallbackSecrets,
    CommandSink,
    IntakeObserver,
    IntakeUnavailable,
)
from worker.callbacks.model import AccountCallback, MalformedCallbacks, parse_callbacks
from worker.callbacks.result import IntakeResult

__all__ = [
    "AccountCallback",
    "CallbackIntake",
    "CallbackSecrets",
    "CommandSink",
    "IntakeObserver",
    "IntakeResult",
    "IntakeUnavailable",
    "MalformedCallbacks",
    "parse_callbacks",
]
