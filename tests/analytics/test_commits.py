"""CommitService over gRPC: tracking, normalising, refusing, batches, visibility and lists."""

from __future__ import annotations

import time
from typing import Any

import grpc
from agentmesh.v1 import analytics_pb2

from services.common.errors import status_from_trailers
from tests.analytics.conftest import Analytics, People, at, commit_hash, fails, stamp_of, violations


async def test_a_tracked_commit_is_stored_normalised_and_found_by_id_or_hash(analytics: Analytics,
                                                                             people: People) -> None:
    before = time.time()
    commit = await analytics.track(
        people.alice, 0, commit_hash=commit_hash(1).upper(), repository=" agentmesh ", branch="refs/heads/main",
        author="Alice", author_email="alice@example.com", message="feat: track commits\n\nWith a body.",
        additions=12, deletions=3, files=["a.py", "b.py", "a.py"])
    assert commit.commit_hash == commit_hash(1) and commit.commit_id.startswith("cmt_")
    assert (commit.repository, commit.branch, list(commit.files), commit.files_changed) == (
        "agentmesh", "main", ["a.py", "b.py"], 2)
    assert (commit.user_id, commit.tenant_id) == (people.alice.user_id, people.alice.tenant_id)
    assert before - 1 <= commit.timestamp.seconds <= time.time() + 1  # default: now

    for key in (commit.commit_id, commit.commit_hash, commit.commit_hash.upper()):
        got = await analytics.commits.GetCommit(analytics_pb2.GetCommitRequest(commit_id=key),
                                                metadata=people.alice.metadata)
        assert got.commit == commit

    again = await fails(analytics.track(people.alice, 1, repository="agentmesh"), grpc.StatusCode.ALREADY_EXISTS)
    status = status_from_trailers(again.trailing_metadata())
    assert status is not None and commit.commit_id.encode() in status.details[0].value
    # the same hash in another repository is another commit; asking by hash is then ambiguous
    other = await analytics.track(people.alice, 1, repository="fork")
    err = await fails(analytics.commits.GetCommit(analytics_pb2.GetCommitRequest(commit_id=commit_hash(1)),
                                                  metadata=people.alice.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    assert "'agentmesh'" in violations(err)["commit_id"] and "'fork'" in violations(err)["commit_id"]
    got = await analytics.commits.GetCommit(analytics_pb2.GetCommitRequest(commit_id=other.commit_id),
                                            metadata=people.alice.metadata)
    assert got.commit.repository == "fork"


BAD_COMMITS: list[tuple[dict[str, Any], str]] = [
    ({"commit_hash": "abc123"}, "commit_hash"),
    ({"commit_hash": "g" * 40}, "commit_hash"),
    ({"commit_hash": commit_hash(1) + "0"}, "commit_hash"),
    ({"commit_hash": " "}, "commit_hash"),
    ({"additions": -1}, "additions"),
    ({"deletions": -5}, "deletions"),
    ({"files_changed": -1}, "files_changed"),
    ({"files_changed": 1, "files": ["a", "b"]}, "files_changed"),
    ({"files": ["ok.py", " "]}, "files[1]"),
    ({"author_email": "not-an-address"}, "author_email"),
    ({"repository": "r" * 513}, "repository"),
    ({"timestamp": stamp_of(time.time() + 3 * 86_400)}, "timestamp"),
    ({"timestamp": stamp_of(-10)}, "timestamp"),
]


async def test_bad_input_names_the_field_and_writes_nothing(analytics: Analytics, people: People) -> None:
    for fields, field in BAD_COMMITS:
        request = analytics_pb2.TrackCommitRequest(**{"commit_hash": commit_hash("bad"), **fields})
        err = await fails(analytics.commits.TrackCommit(request, metadata=people.alice.metadata),
                          grpc.StatusCode.INVALID_ARGUMENT)
        assert list(violations(err)) == [field], fields
    assert (await analytics.listed(people.alice)).total_size == 0


async def test_a_batch_is_all_or_nothing_and_skips_what_is_tracked(analytics: Analytics, people: People) -> None:
    await analytics.track(people.alice, "old", repository="r")
    good = [analytics_pb2.Commit(commit_hash=commit_hash(i), repository="r", message=f"m{i}",
                                 timestamp=at(2024, 1, i + 1)) for i in range(3)]
    bad = analytics_pb2.Commit(commit_hash="xyz", repository="r", additions=-1)
    err = await fails(analytics.commits.BatchTrackCommits(
        analytics_pb2.BatchTrackCommitsRequest(commits=[*good, bad]), metadata=people.alice.metadata),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(err)) == {"commits[3].commit_hash", "commits[3].additions"}
    assert (await analytics.listed(people.alice)).total_size == 1  # only the one tracked before

    conflicting = analytics_pb2.Commit(commit_hash=commit_hash(0), repository="r", message="something else",
                                       timestamp=at(2024, 1, 1))
    err = await fails(analytics.commits.BatchTrackCommits(
        analytics_pb2.BatchTrackCommitsRequest(commits=[*good, conflicting]), metadata=people.alice.metadata),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert "repeats commits[0]" in violations(err)["commits[3].commit_hash"]

    server_set = analytics_pb2.Commit(commit_hash=commit_hash("old"), repository="r", commit_id="mine",
                                      user_id="someone-else")
    reply = await analytics.commits.BatchTrackCommits(analytics_pb2.BatchTrackCommitsRequest(
        commits=[*good, good[1], server_set]), metadata=people.alice.metadata)
    assert [c.commit_hash for c in reply.commits] == [commit_hash(i) for i in range(3)]
    assert list(reply.skipped_hashes) == [commit_hash(1), commit_hash("old")]
    assert all(c.user_id == people.alice.user_id and c.commit_id.startswith("cmt_") for c in reply.commits)
    assert (await analytics.listed(people.alice)).total_size == 4
    again = await analytics.commits.BatchTrackCommits(analytics_pb2.BatchTrackCommitsRequest(commits=good),
                                                      metadata=people.alice.metadata)
    assert not again.commits and list(again.skipped_hashes) == [commit_hash(i) for i in range(3)]

    for commits, text in (([], "at least one"), ([good[0]] * 501, "at most 500")):
        err = await fails(analytics.commits.BatchTrackCommits(
            analytics_pb2.BatchTrackCommitsRequest(commits=commits), metadata=people.alice.metadata),
            grpc.StatusCode.INVALID_ARGUMENT)
        assert text in violations(err)["commits"]


async def test_commits_are_their_users_and_their_tenant_admins(analytics: Analytics, people: People) -> None:
    mine = await analytics.track(people.alice, 1, repository="r")
    await analytics.track(people.carol, 2, repository="r")
    for other in (people.bob, people.carol, people.otto):  # another tenant, a colleague, another tenant's admin
        for key in (mine.commit_id, mine.commit_hash):
            await fails(analytics.commits.GetCommit(analytics_pb2.GetCommitRequest(commit_id=key),
                                                    metadata=other.metadata), grpc.StatusCode.NOT_FOUND)
        assert mine.commit_id not in {c.commit_id for c in (await analytics.listed(other)).commits}
    # the colleague tracks the same hash for herself: no refusal that would reveal Alice's
    theirs = await analytics.track(people.carol, 1, repository="r")
    assert theirs.commit_id != mine.commit_id
    got = await analytics.commits.GetCommit(analytics_pb2.GetCommitRequest(commit_id=mine.commit_id),
                                            metadata=people.ada.metadata)
    assert got.commit == mine
    listed = await analytics.listed(people.ada)
    assert listed.total_size == 3 and {c.user_id for c in listed.commits} == {people.alice.user_id,
                                                                             people.carol.user_id}
    assert [c.commit_id for c in (await analytics.listed(people.ada, filter=f'user_id="{people.alice.user_id}"'))
            .commits] == [mine.commit_id]
    assert (await analytics.listed(people.alice)).total_size == 1


async def test_lists_filter_sort_and_page(analytics: Analytics, people: People) -> None:
    rows = [  # (n, repository, branch, author, email, day, additions)
        (1, "api", "main", "Ann", "ann@example.com", 1, 10),
        (2, "api", "dev", "Ann", "ann@example.com", 2, 250),
        (3, "web", "main", "Bo", "bo@example.com", 3, 40),
        (4, "web", "main", "Bo", "BO@example.com", 4, 120),
        (5, "api", "main", "Cy", "cy@example.com", 5, 0),
    ]
    for n, repository, branch, author, email, day, additions in rows:
        await analytics.track(people.alice, n, repository=repository, branch=branch, author=author,
                              author_email=email, timestamp=at(2024, 5, day, 12), additions=additions)

    async def hashes(**fields: Any) -> list[str]:
        return [c.commit_hash for c in (await analytics.listed(people.alice, **fields)).commits]

    assert await hashes() == [commit_hash(n) for n in (5, 4, 3, 2, 1)]  # newest first
    assert await hashes(repository="api") == [commit_hash(n) for n in (5, 2, 1)]
    assert await hashes(author="bo@EXAMPLE.com") == [commit_hash(n) for n in (4, 3)]
    assert await hashes(author="ann") == [commit_hash(n) for n in (2, 1)]
    assert await hashes(branch="refs/heads/dev") == [commit_hash(2)]
    assert await hashes(since=at(2024, 5, 2), until=at(2024, 5, 4)) == [commit_hash(n) for n in (3, 2)]
    assert await hashes(filter='additions > 100 AND repository = "web"') == [commit_hash(4)]
    assert await hashes(filter="timestamp >= 2024-05-04T00:00:00Z") == [commit_hash(n) for n in (5, 4)]
    assert await hashes(order_by="additions desc") == [commit_hash(n) for n in (2, 4, 3, 1, 5)]

    first = await analytics.listed(people.alice, page_size=2, order_by="timestamp")
    assert [c.commit_hash for c in first.commits] == [commit_hash(1), commit_hash(2)] and first.total_size == 5
    second = await analytics.listed(people.alice, page_size=2, order_by="timestamp", page_token=first.next_page_token)
    assert [c.commit_hash for c in second.commits] == [commit_hash(3), commit_hash(4)]
    assert await hashes(limit=1, offset=4) == [commit_hash(1)]

    for fields, field in (({"filter": "mood = happy"}, "filter"), ({"filter": "additions > lots"}, "filter"),
                          ({"order_by": "karma"}, "order_by"), ({"page_size": -1}, "page_size"),
                          ({"since": at(2024, 5, 3), "until": at(2024, 5, 2)}, "until")):
        err = await fails(analytics.commits.ListCommits(analytics_pb2.ListCommitsRequest(**fields),
                                                        metadata=people.alice.metadata),
                          grpc.StatusCode.INVALID_ARGUMENT)
        assert field in violations(err)


async def test_a_batch_of_many_bad_items_lists_what_fits_in_a_reply(analytics: Analytics, people: People) -> None:
    bad = [analytics_pb2.Commit(commit_hash="xyz", additions=-1, author_email="nope") for _ in range(500)]
    err = await fails(analytics.commits.BatchTrackCommits(analytics_pb2.BatchTrackCommitsRequest(commits=bad),
                                                          metadata=people.alice.metadata),
                      grpc.StatusCode.INVALID_ARGUMENT)
    found = violations(err)
    assert "commits[0].commit_hash" in found and "commits[499].commit_hash" not in found
    assert found[""].endswith("more problems not listed")
    assert (await analytics.listed(people.alice)).total_size == 0
