"""OGC API exceptions: `{"code": ..., "description": ...}` with a 4xx status."""

from __future__ import annotations


class OGCAPIError(Exception):
    def __init__(self, status: int, code: str, description: str, parameter: str = ""):
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter

    def as_dict(self) -> dict[str, str]:
        body = {"code": self.code, "description": self.description}
        if self.parameter:
            body["parameter"] = self.parameter
        return body


def invalid_parameter(name: str, description: str) -> OGCAPIError:
    return OGCAPIError(400, "InvalidParameterValue", f"{name}: {description}", parameter=name)


def not_found(description: str) -> OGCAPIError:
    return OGCAPIError(404, "NotFound", description)
