"""Inbound HTTP: an entry point, like the AMQP consumer.

One server per process (:func:`worker.http.server.http_server`), owned by the application's
exit stack. Each concern brings its routes as a module of its own (``health``, ``metrics``;
later the install callback, the JSON API, the status page, the Voximplant callbacks): a
:class:`~worker.http.server.Routes` that adds thin handlers to the application and, if it
needs one, a background task that lives as long as the server.
"""

from worker.http.server import Routes, http_server

__all__ = ["Routes", "http_server"]
