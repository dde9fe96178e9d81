"""Domain errors and their one mapping to gRPC status with google.rpc details.

Services raise these; the error interceptor turns them into a status, a
message and a `grpc-status-details-bin` trailer carrying a google.rpc.Status
whose details (BadRequest field violations, ErrorInfo, RetryInfo...) the edge
forwards to HTTP clients unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"
# An error travels in trailers, which gRPC clients cap (8 KiB by default, base64 of the details included):
# its message and its list of field violations are cut to these, the cut said, so a request with a
# thousand faults still gets its 400.
MAX_MESSAGE_CHARS = 1_000
MAX_VIOLATIONS = 50
MAX_VIOLATION_BYTES = 3_000


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a unit means to send to its caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    reason: str = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        self.metadata = dict(metadata or {})

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain="agentmesh", metadata=self.metadata)
        packed = any_pb2.Any()
        packed.Pack(info)
        return [packed]

    def to_status(self) -> status_pb2.Status:
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=self.details())


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, message: str, violations: Iterable[FieldViolation] = (), **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.violations: Sequence[FieldViolation] = _within_budget(tuple(violations))

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls(f"{field}: {description}", [FieldViolation(field, description)])

    def details(self) -> list[any_pb2.Any]:
        packed = super().details()
        if self.violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in self.violations
                ]
            )
            extra = any_pb2.Any()
            extra.Pack(bad)
            packed.append(extra)
        return packed


def _within_budget(listed: tuple[FieldViolation, ...]) -> tuple[FieldViolation, ...]:
    """The violations, or as many as the trailer budget holds and one that counts the rest."""
    sizes = [len(v.field.encode()) + len(v.description.encode()) + 8 for v in listed]
    if len(listed) <= MAX_VIOLATIONS and sum(sizes) <= MAX_VIOLATION_BYTES:
        return listed
    kept, used = 0, 0
    while kept < min(len(listed), MAX_VIOLATIONS - 1) and used + sizes[kept] <= MAX_VIOLATION_BYTES:
        used += sizes[kept]
        kept += 1
    return (*listed[:kept], FieldViolation("", f"and {len(listed) - kept} more problems not listed"))


def raise_if(violations: Iterable[FieldViolation | None]) -> None:
    """INVALID_ARGUMENT listing every violation, when there is any (None stands for no problem)."""
    found = [v for v in violations if v is not None]
    if found:
        raise InvalidArgument("; ".join(f"{v.field}: {v.description}" for v in found), found)


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Aborted(DomainError):
    code = grpc.StatusCode.ABORTED
    reason = "ABORTED"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


class Unimplemented(DomainError):
    code = grpc.StatusCode.UNIMPLEMENTED
    reason = "UNIMPLEMENTED"


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after

    def details(self) -> list[any_pb2.Any]:
        packed = super().details()
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(self.retry_after * 1e9))
            extra = any_pb2.Any()
            extra.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
            packed.append(extra)
        return packed


def internal_status(request_id: str) -> status_pb2.Status:
    """What a caller learns of an unexpected failure: that it happened, and where to look."""
    suffix = f" (request id {request_id})" if request_id else ""
    return status_pb2.Status(code=code_pb2.INTERNAL, message=f"internal error{suffix}")


def status_from_trailers(metadata: Iterable[tuple[str, str | bytes]] | None) -> status_pb2.Status | None:
    """The google.rpc.Status a unit attached to a failed call, if any."""
    for key, value in metadata or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None
