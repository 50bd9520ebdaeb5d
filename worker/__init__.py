"""sipline: applies Bitrix24 cloud PBX line changes and cross-checks them with Voximplant."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sipline")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+local"
