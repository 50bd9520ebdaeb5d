"""sipline: applies Bitrix24 cloud PBX line changes and cross-checks them with Voximplant."""

from functools import cache


@cache
def _version() -> str:
    # imported here: importlib.metadata costs a tenth of a second, which every command
    # paid at start-up for a value only `--version` and the worker's headers read
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sipline")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+local"


def __getattr__(name: str) -> str:
    """``worker.__version__``, looked up on first use."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
