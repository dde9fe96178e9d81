"""The commit vocabulary: what a trackable commit is, who sees which, rows turned into messages.

A commit is read from a TrackCommitRequest or a Commit (BatchTrackCommits):
both carry the same field names. Every problem is a field violation named as
the client wrote it (`commit_hash`, or `commits[3].commit_hash` in a batch), so
one call lists them all. Values are normalised once, here: hashes lower-case,
text trimmed, a branch's `refs/heads/` dropped (what push webhooks send), file
paths without repeats, `files_changed` at least the number of paths given.

Visibility: a user sees the commits they tracked; the tenant's admins see every
commit of the tenant; anything else is NOT_FOUND, like a missing id.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentmesh.v1 import analytics_pb2

from services.common.authctx import Caller
from services.common.authctx import tenant_caller as tenant_caller  # the unit's modules take it from here
from services.common.errors import FieldViolation, InvalidArgument, NotFound
from services.common.protoutil import timestamp

HASH_LENGTH = 40
REPOSITORY_MAX = 512
BRANCH_MAX = 255
AUTHOR_MAX = 256
EMAIL_MAX = 320
MESSAGE_MAX = 65_536
FILES_MAX = 10_000
PATH_MAX = 4096
BATCH_MAX = 500
# A commit dated further ahead than this is a broken clock, not a commit: it would skew every trend.
FUTURE_SLACK = 86_400.0
INT32_MAX = 2**31 - 1

_HASH = re.compile(r"^[0-9a-f]{40}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True, slots=True)
class CommitInput:
    """One commit as the client described it, normalised."""

    commit_hash: str
    repository: str
    branch: str
    author: str
    author_email: str
    message: str
    timestamp: float
    files_changed: int
    additions: int
    deletions: int
    files: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        """What makes a commit unique for its user: repository and hash."""
        return self.repository, self.commit_hash


def is_hash(value: str) -> bool:
    return bool(_HASH.match(value.lower()))


def branch_name(value: str) -> str:
    value = value.strip()
    return value.removeprefix("refs/heads/")


def read_commit(source: Any, now: float, prefix: str = "") -> tuple[CommitInput, list[FieldViolation]]:
    """The commit a request describes and what is wrong with it (nothing, when the list is empty)."""
    problems: list[FieldViolation] = []

    def wrong(field: str, description: str) -> None:
        problems.append(FieldViolation(prefix + field, description))

    raw_hash = source.commit_hash.strip()
    commit_hash = raw_hash.lower()
    if not raw_hash:
        wrong("commit_hash", "is required")
    elif not _HASH.match(commit_hash):
        shown = f"{len(raw_hash)} characters" if len(raw_hash) != HASH_LENGTH else "characters other than 0-9 and a-f"
        wrong("commit_hash", f"must be the full {HASH_LENGTH}-character hexadecimal SHA-1 hash (got {shown})")

    texts = {
        "repository": (source.repository.strip(), REPOSITORY_MAX),
        "branch": (branch_name(source.branch), BRANCH_MAX),
        "author": (source.author.strip(), AUTHOR_MAX),
        "author_email": (source.author_email.strip(), EMAIL_MAX),
        "message": (source.message.strip(), MESSAGE_MAX),
    }
    for name, (value, limit) in texts.items():
        if len(value) > limit:
            wrong(name, f"at most {limit} characters")
    email = texts["author_email"][0]
    if email and not _EMAIL.match(email):
        wrong("author_email", "must be an e-mail address such as ann@example.com")

    moment = now
    if source.HasField("timestamp"):
        stamp = source.timestamp
        if not 0 <= stamp.nanos < 1_000_000_000:
            wrong("timestamp", "nanos must be from 0 to 999999999")
        moment = stamp.seconds + stamp.nanos / 1e9
        if moment < 0:
            wrong("timestamp", "must not be before 1970-01-01T00:00:00Z")
        elif moment > now + FUTURE_SLACK:
            wrong("timestamp", "is more than a day in the future; check the clock that dated the commit")

    for name in ("files_changed", "additions", "deletions"):
        if getattr(source, name) < 0:
            wrong(name, "must not be negative")

    paths = list(dict.fromkeys(p.strip() for p in source.files))
    if len(paths) > FILES_MAX:
        wrong("files", f"at most {FILES_MAX} paths")
    for i, path in enumerate(source.files):
        if not path.strip():
            wrong(f"files[{i}]", "must not be empty")
        elif len(path) > PATH_MAX:
            wrong(f"files[{i}]", f"at most {PATH_MAX} characters")
    paths = [p for p in paths if p]
    files_changed = source.files_changed
    if files_changed and paths and files_changed < len(paths):
        wrong("files_changed", f"is {files_changed}, fewer than the {len(paths)} paths in files")

    commit = CommitInput(
        commit_hash=commit_hash,
        repository=texts["repository"][0],
        branch=texts["branch"][0],
        author=texts["author"][0],
        author_email=email,
        message=texts["message"][0],
        timestamp=moment,
        files_changed=max(files_changed, len(paths)),
        additions=max(source.additions, 0),
        deletions=max(source.deletions, 0),
        files=tuple(paths),
    )
    return commit, problems


def raise_if(found: Iterable[FieldViolation]) -> None:
    """INVALID_ARGUMENT listing the violations, when there is any (InvalidArgument keeps them within a reply)."""
    every = list(found)
    if not every:
        return
    shown = "; ".join(f"{v.field}: {v.description}" for v in every[:5])
    more = f" (and {len(every) - 5} more)" if len(every) > 5 else ""
    raise InvalidArgument(shown + more, every)


def new_row(commit: CommitInput, caller: Caller, commit_id: str, created_at: float | None = None) -> dict[str, Any]:
    return {
        "commit_id": commit_id,
        "tenant_id": caller.tenant_id,
        "user_id": caller.user_id,
        "commit_hash": commit.commit_hash,
        "repository": commit.repository,
        "branch": commit.branch,
        "author": commit.author,
        "author_email": commit.author_email,
        "message": commit.message,
        "timestamp": commit.timestamp,
        "files_changed": commit.files_changed,
        "additions": commit.additions,
        "deletions": commit.deletions,
        "files": json.dumps(list(commit.files)),
        "created_at": time.time() if created_at is None else created_at,
    }


def commit_message(row: Mapping[str, Any]) -> analytics_pb2.Commit:
    return analytics_pb2.Commit(
        commit_id=row["commit_id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        commit_hash=row["commit_hash"],
        repository=row["repository"],
        branch=row["branch"],
        author=row["author"],
        author_email=row["author_email"],
        message=row["message"],
        timestamp=timestamp(row["timestamp"]),
        files_changed=row["files_changed"],
        additions=row["additions"],
        deletions=row["deletions"],
        files=json.loads(row["files"]),
        created_at=timestamp(row["created_at"]),
    )


def clamp32(value: float) -> int:
    """A count for an int32 field: totals of huge imports saturate rather than fail to serialise."""
    return int(min(max(value, 0), INT32_MAX))


# ---------------------------------------------------------------------------
# Who sees what


def commit_scope(caller: Caller, alias: str = "c") -> tuple[list[str], list[Any]]:
    """WHERE terms that confine commits to what the caller may see."""
    if caller.is_admin:
        return [f"{alias}.tenant_id = ?"], [caller.tenant_id]
    return [f"{alias}.tenant_id = ?", f"{alias}.user_id = ?"], [caller.tenant_id, caller.user_id]


def commit_not_found(commit_id: str) -> NotFound:
    """One answer for a missing commit and one the caller may not see."""
    return NotFound(f"commit {commit_id} not found", reason="COMMIT_NOT_FOUND")
