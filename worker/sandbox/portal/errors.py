"""An error body the portal answers with: ``{"error": CODE, "error_description": …}``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by a method; the app turns it into the documented status and body."""

    def __init__(
        self,
        code: str,
        description: str,
        status: int = 400,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {description}")
        self.code, self.description, self.status = code, description, status
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description, **self.extra}


def check_fields(description: str) -> ApiError:
    return ApiError("CHECK_FIELDS_ERROR", description, 400)
