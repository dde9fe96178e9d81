"""CommitService: the commits a user tracks (seed 004's /api/v1/commits), the raw material of behavioural analytics.

A commit is tracked in the caller's tenant for the caller. One user tracks a
hash once per repository: TrackCommit refuses a repeat with ALREADY_EXISTS
(naming the commit already stored); BatchTrackCommits skips it and lists its
hash in `skipped_hashes`. A batch is read whole before anything is written:
one bad item refuses the call with every item's problems as field violations
(`commits[i].<field>`) and writes nothing; the rest is written in one
transaction. Inside one batch, an item repeating an earlier item's repository
and hash with the same details is skipped like an already tracked one; with
different details it is a violation, since the call contradicts itself.

Reads: a user sees the commits they tracked, the tenant's admins every commit
of the tenant; anything else is NOT_FOUND. GetCommit takes a commit id or a
full hash; a hash the caller may see in several repositories is refused,
naming them, rather than answered with one picked at random.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import grpc
from agentmesh.v1 import analytics_pb2

from services.analytics import commit_model as model
from services.analytics.commit_model import CommitInput
from services.common.authctx import Caller
from services.common.crud import page, required_id
from services.common.errors import AlreadyExists, FieldViolation, InvalidArgument
from services.common.listing import filter_sql, order_sql, time_value
from services.common.protoutil import new_id, seconds
from services.common.storage import Database, Row, Statement

_TEXT_COLUMNS = ("commit_id", "user_id", "commit_hash", "repository", "branch", "author", "author_email", "message")
_NUMBER_COLUMNS = ("files_changed", "additions", "deletions")
_TIME_COLUMNS = ("timestamp", "created_at")
_COLUMNS: Mapping[str, str] = {name: f"c.{name}" for name in (*_TEXT_COLUMNS, *_NUMBER_COLUMNS, *_TIME_COLUMNS)}
MAX_PAGE_SIZE = 1000


def _typed(name: str, column: str, value: str) -> Any:
    """Filter values bound as the column stores them: numbers, Unix seconds, or text."""
    field = column.removeprefix("c.")
    if field in _NUMBER_COLUMNS:
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument.field("filter", f"{name}: {value!r} is not a whole number") from None
    if field in _TIME_COLUMNS:
        return time_value(name, value)
    return value


def _insert(row: Mapping[str, Any]) -> str:
    """An INSERT that stores nothing (and returns no row) when the user already tracks the hash there."""
    return (f"INSERT INTO commits ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
            " ON CONFLICT (tenant_id, user_id, repository, commit_hash) DO NOTHING RETURNING commit_id")


class Commits:
    """agentmesh.v1.CommitService."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def TrackCommit(
        self, request: analytics_pb2.TrackCommitRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.TrackCommitResponse:
        caller = model.tenant_caller()
        commit, problems = model.read_commit(request, time.time())
        model.raise_if(problems)
        row = model.new_row(commit, caller, new_id("cmt"))
        async with self.db.transaction() as tx:
            stored = await tx.fetch_all(_insert(row), list(row.values()))
            if not stored:
                existing = await tx.fetch_one(
                    "SELECT commit_id FROM commits WHERE tenant_id = ? AND user_id = ? AND repository = ?"
                    " AND commit_hash = ?", (caller.tenant_id, caller.user_id, commit.repository, commit.commit_hash))
                where = f" in repository {commit.repository!r}" if commit.repository else " without a repository"
                raise AlreadyExists(
                    f"commit {commit.commit_hash} is already tracked{where}", reason="COMMIT_ALREADY_TRACKED",
                    metadata={"commit_id": existing["commit_id"] if existing else "",
                              "commit_hash": commit.commit_hash},
                )
        return analytics_pb2.TrackCommitResponse(commit=model.commit_message(row))

    async def BatchTrackCommits(
        self, request: analytics_pb2.BatchTrackCommitsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.BatchTrackCommitsResponse:
        caller = model.tenant_caller()
        if not request.commits:
            raise InvalidArgument.field("commits", "is required: give at least one commit")
        if len(request.commits) > model.BATCH_MAX:
            raise InvalidArgument.field("commits", f"at most {model.BATCH_MAX} commits per call, got"
                                        f" {len(request.commits)}")
        now = time.time()
        problems: list[FieldViolation] = []
        # Each item's fate, in request order: the commit to write, or the hash it repeats within this call.
        plan: list[CommitInput | str] = []
        first: dict[tuple[str, str], tuple[int, CommitInput]] = {}
        for i, item in enumerate(request.commits):
            commit, found = model.read_commit(item, now, f"commits[{i}].")
            if found:
                problems.extend(found)
                continue
            earlier = first.get(commit.key)
            if earlier is None:
                first[commit.key] = (i, commit)
                plan.append(commit)
            elif earlier[1] == commit:
                plan.append(commit.commit_hash)
            else:
                problems.append(FieldViolation(
                    f"commits[{i}].commit_hash",
                    f"repeats commits[{earlier[0]}] (same repository and hash) with different details"))
        model.raise_if(problems)

        rows = [model.new_row(c, caller, new_id("cmt"), now) if isinstance(c, CommitInput) else None for c in plan]
        statements = [Statement(_insert(row), list(row.values())) for row in rows if row is not None]
        results = iter(await self.db.batch(statements))  # one transaction: all of them or none
        tracked: list[analytics_pb2.Commit] = []
        skipped: list[str] = []
        for step, row in zip(plan, rows, strict=True):
            if row is None:
                skipped.append(str(step))
            elif next(results):
                tracked.append(model.commit_message(row))
            else:
                skipped.append(row["commit_hash"])
        return analytics_pb2.BatchTrackCommitsResponse(commits=tracked, skipped_hashes=skipped)

    async def ListCommits(
        self, request: analytics_pb2.ListCommitsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.ListCommitsResponse:
        caller = model.tenant_caller()
        where, params = model.commit_scope(caller)
        if request.repository.strip():
            where.append("c.repository = ?")
            params.append(request.repository.strip())
        if request.author.strip():
            where.append("(lower(c.author) = lower(?) OR lower(c.author_email) = lower(?))")
            params += [request.author.strip()] * 2
        if request.branch.strip():
            where.append("c.branch = ?")
            params.append(model.branch_name(request.branch))
        if request.HasField("since"):
            where.append("c.timestamp >= ?")
            params.append(seconds(request.since))
        if request.HasField("until"):
            if request.HasField("since") and seconds(request.until) <= seconds(request.since):
                raise InvalidArgument.field("until", "must be after since")
            where.append("c.timestamp < ?")
            params.append(seconds(request.until))
        clauses, values = filter_sql(request.filter, _COLUMNS, _typed)
        order = order_sql(request.order_by, _COLUMNS, "c.timestamp DESC", "c.created_at DESC, c.commit_id DESC")
        rows, total, token = await page(self.db, "commits c", [*where, *clauses], [*params, *values], order, request,
                                        maximum=MAX_PAGE_SIZE)
        return analytics_pb2.ListCommitsResponse(
            commits=[model.commit_message(r) for r in rows], next_page_token=token, total_size=total)

    async def GetCommit(
        self, request: analytics_pb2.GetCommitRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.GetCommitResponse:
        caller = model.tenant_caller()
        wanted = required_id("commit_id", request.commit_id)
        row = await self._visible(caller, wanted)
        return analytics_pb2.GetCommitResponse(commit=model.commit_message(row))

    async def _visible(self, caller: Caller, wanted: str) -> Row:
        """The commit of that id, or of that hash (the caller's own first); NOT_FOUND when the caller sees none."""
        where, params = model.commit_scope(caller)
        scope = " AND ".join(where)
        if not model.is_hash(wanted):
            row = await self.db.fetch_one(f"SELECT c.* FROM commits c WHERE c.commit_id = ? AND {scope}",
                                          [wanted, *params])
            if row is None:
                raise model.commit_not_found(wanted)
            return row
        rows = await self.db.fetch_all(
            f"SELECT c.* FROM commits c WHERE c.commit_hash = ? AND {scope}"
            " ORDER BY (c.user_id = ?) DESC, c.created_at DESC LIMIT 20", [wanted.lower(), *params, caller.user_id])
        own = [r for r in rows if r["user_id"] == caller.user_id]
        candidates = own or rows
        if not candidates:
            raise model.commit_not_found(wanted)
        if len(candidates) > 1:
            places = ", ".join(sorted({repr(r["repository"]) for r in candidates}))
            raise InvalidArgument.field(
                "commit_id", f"hash {wanted.lower()} is tracked {len(candidates)} times (repositories {places});"
                " ask by commit id")
        return candidates[0]
