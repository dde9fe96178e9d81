"""Seed 004's commit and analytics endpoints through the real edge, in front of the real auth and analytics units."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.settings import Settings
from tests.analytics.conftest import Analytics, commit_hash

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def edge(analytics: Analytics, settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def _user(edge: Client, email: str) -> dict[str, str]:
    reply = await edge.post("/api/v1/auth/register", json={"email": email, "password": "correct horse 1"})
    return {"Authorization": f"Bearer {(await _json(reply, 201))['access_token']}"}


async def _json(reply: Any, status: int) -> Any:
    assert reply.status == status, await reply.text()
    return await reply.json()


def _fields(body: dict[str, Any]) -> set[str]:
    return {v["field"] for d in body["error"]["details"] if d["@type"].endswith("google.rpc.BadRequest")
            for v in d["field_violations"]}


async def test_seed_004_commit_endpoints(edge: Client) -> None:
    alice = await _user(edge, "alice@example.com")
    bad = await _json(await edge.post("/api/v1/commits/track", headers=alice, json={"commit_hash": "abc123"}), 400)
    assert bad["error"]["code"] == "INVALID_ARGUMENT" and _fields(bad) == {"commit_hash"}
    assert "40-character" in bad["detail"]
    assert (await _json(await edge.get("/api/v1/commits", headers=alice), 200))["total_size"] == 0

    commit = await _json(await edge.post("/api/v1/commits/track", headers=alice, json={
        "commitHash": commit_hash(1), "repository": "agentmesh", "author": "Alice", "message": "feat: first",
        "timestamp": "2024-03-04T09:15:00Z", "additions": 10, "deletions": 2, "files": ["a.py"]}), 201)
    assert commit["commit_hash"] == commit_hash(1) and commit["timestamp"] == "2024-03-04T09:15:00Z"
    assert commit["files_changed"] == 1
    again = await _json(await edge.post("/api/v1/commits/track", headers=alice, json={
        "commit_hash": commit_hash(1), "repository": "agentmesh"}), 409)
    assert again["error"]["code"] == "ALREADY_EXISTS"

    batch = [{"commit_hash": commit_hash(n), "repository": "agentmesh", "timestamp": f"2024-03-0{n}T10:00:00Z",
              "additions": n} for n in (2, 3)]
    refused = await _json(await edge.post("/api/v1/commits/batch", headers=alice, json={
        "commits": [*batch, {"commit_hash": commit_hash(4), "deletions": -1}]}), 400)
    assert _fields(refused) == {"commits[2].deletions"}
    assert (await _json(await edge.get("/api/v1/commits", headers=alice), 200))["total_size"] == 1
    tracked = await _json(await edge.post("/api/v1/commits/batch", headers=alice, json={
        "commits": [*batch, {"commit_hash": commit_hash(1), "repository": "agentmesh"}]}), 201)
    assert [c["commit_hash"] for c in tracked["commits"]] == [commit_hash(2), commit_hash(3)]
    assert tracked["skipped_hashes"] == [commit_hash(1)]

    listed = await _json(await edge.get("/api/v1/commits?limit=2&since=2024-03-03T00:00:00Z", headers=alice), 200)
    assert [c["commit_hash"] for c in listed["commits"]] == [commit_hash(1), commit_hash(3)]
    assert listed["total_size"] == 2 and listed["next_page_token"] == ""
    path = f"/api/v1/commits/{commit['commit_id']}"
    assert (await _json(await edge.get(path, headers=alice), 200)) == commit
    assert (await _json(await edge.get(f"/api/v1/commits/{commit_hash(1)}", headers=alice), 200)) == commit

    bob = await _user(edge, "bob@example.com")
    for other in (path, f"/api/v1/commits/{commit_hash(1)}"):
        assert (await _json(await edge.get(other, headers=bob), 404))["error"]["code"] == "NOT_FOUND"
    assert (await _json(await edge.get("/api/v1/commits", headers=bob), 200))["total_size"] == 0
    assert (await edge.get("/api/v1/commits")).status == 401


async def test_seed_004_analytics_endpoints(edge: Client) -> None:
    alice = await _user(edge, "ann@example.com")
    commits = [  # Monday 4 March 2024: two at 9h, one at 10h; Tuesday: one at 9h
        ("2024-03-04T09:10:00Z", 10, 0, "feat: parse hashes"), ("2024-03-04T09:40:00Z", 20, 10, "fix"),
        ("2024-03-04T10:05:00Z", 30, 0, "docs: explain streaks"), ("2024-03-05T09:30:00Z", 100, 50, "refactor: store"),
    ]
    await _json(await edge.post("/api/v1/commits/batch", headers=alice, json={"commits": [
        {"commit_hash": commit_hash(i), "repository": "api", "timestamp": stamp, "additions": added,
         "deletions": deleted, "message": message} for i, (stamp, added, deleted, message) in enumerate(commits)]}),
        201)

    metrics = await _json(await edge.get(
        "/api/v1/analytics/metrics?start_time=2024-03-04T00:00:00Z&end_time=2024-03-11T00:00:00Z&granularity=day",
        headers=alice), 200)
    assert (metrics["commit_count"], metrics["active_days"], metrics["longest_streak_days"]) == (4, 2, 2)
    assert metrics["average_commits_per_day"] == pytest.approx(4 / 7)
    assert metrics["average_commit_size"] == pytest.approx((10 + 30 + 30 + 150) / 4)
    assert (metrics["total_additions"], metrics["total_deletions"]) == (160, 60)
    assert (metrics["most_productive_hour"], metrics["most_productive_weekday"]) == (9, "monday")
    assert [p.get("commit_count", 0) for p in metrics["points"]] == [3, 1, 0, 0, 0, 0, 0]

    trends = await _json(await edge.get("/api/v1/analytics/trends?metric=commits&period=month&periods=3",
                                        headers=alice), 200)
    [trend] = trends["trends"]
    assert trend["metric"] == "commits" and len(trend["points"]) == 3
    bad = await _json(await edge.get("/api/v1/analytics/trends?period=year", headers=alice), 400)
    assert _fields(bad) == {"period"}

    accepted = await _json(await edge.post("/api/v1/analytics/analyze", headers=alice, json={
        "start_time": "2024-03-04T00:00:00Z", "end_time": "2024-03-11T00:00:00Z", "kinds": ["work_hours", "weekday"]}),
        202)
    assert (accepted["status"], accepted["commit_count"]) == ("queued", 4)
    async with asyncio.timeout(10):
        while True:
            found = await _json(await edge.get("/api/v1/analytics/patterns", headers=alice), 200)
            if "analyzed_at" in found:
                break
            await asyncio.sleep(0.05)
    # 4 commits weigh 4/20: all 4 fall between 9:00 and 11:00, 3 of 4 on a Monday
    assert [(p["kind"], p["title"], p["confidence"]) for p in found["patterns"]] == [
        ("work_hours", "Most productive between 9:00 and 11:00 UTC", 0.2),
        ("weekday", "Most active on Mondays", 0.15)]
    filtered = await _json(await edge.get("/api/v1/analytics/patterns?kind=weekday&min_confidence=0.5",
                                          headers=alice), 200)
    assert filtered.get("patterns", []) == []
