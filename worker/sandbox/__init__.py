"""The built-in sandbox: a Bitrix24 portal and a Voximplant account that behave as documented.

Used by tests, ``sipline sandbox`` and ``sipline demo``; never imported by the production path.
"""
