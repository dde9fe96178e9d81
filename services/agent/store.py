"""Queries the agent unit's services share: scoped lookups, team memberships, definitions.

Every lookup of an agent or a team is scoped to a tenant; a row of another
tenant is NOT_FOUND, exactly like a missing one. Platform admins look up with
no scope (None), so that seed 000's admin views can act on what they list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from services.agent import model
from services.common.authctx import Caller
from services.common.storage import Row, Transaction

MEMBER_SELECT = (
    "SELECT m.team_id, m.agent_id, m.role, m.position, m.added_at, a.name AS agent_name"
    " FROM team_members m JOIN agents a ON a.agent_id = m.agent_id"
)


def scope(caller: Caller) -> str | None:
    """The tenant a caller's lookups are confined to; None (every tenant) for platform admins."""
    return None if caller.is_admin else caller.tenant_id


def _marks(values: Sequence[str]) -> str:
    return ", ".join("?" for _ in values)


async def agent_row(q: Transaction, agent_id: str, tenant_id: str | None) -> Row:
    if tenant_id is None:
        row = await q.fetch_one("SELECT * FROM agents WHERE agent_id = ?", (agent_id,))
    else:
        row = await q.fetch_one("SELECT * FROM agents WHERE agent_id = ? AND tenant_id = ?", (agent_id, tenant_id))
    if row is None:
        raise model.agent_not_found(agent_id)
    return row


async def team_row(q: Transaction, team_id: str, tenant_id: str | None) -> Row:
    if tenant_id is None:
        row = await q.fetch_one("SELECT * FROM teams WHERE team_id = ?", (team_id,))
    else:
        row = await q.fetch_one("SELECT * FROM teams WHERE team_id = ? AND tenant_id = ?", (team_id, tenant_id))
    if row is None:
        raise model.team_not_found(team_id)
    return row


async def team_ids_of(q: Transaction, agent_ids: Sequence[str]) -> dict[str, list[str]]:
    """agent id -> the teams it belongs to, oldest membership first."""
    found: dict[str, list[str]] = defaultdict(list)
    if agent_ids:
        rows = await q.fetch_all(
            f"SELECT agent_id, team_id FROM team_members WHERE agent_id IN ({_marks(agent_ids)})"
            " ORDER BY added_at, team_id",
            list(agent_ids),
        )
        for row in rows:
            found[row["agent_id"]].append(row["team_id"])
    return found


async def members_of(q: Transaction, team_ids: Sequence[str]) -> dict[str, list[Row]]:
    """team id -> its members in position order."""
    found: dict[str, list[Row]] = defaultdict(list)
    if team_ids:
        rows = await q.fetch_all(
            f"{MEMBER_SELECT} WHERE m.team_id IN ({_marks(team_ids)}) ORDER BY m.team_id, m.position",
            list(team_ids),
        )
        for row in rows:
            found[row["team_id"]].append(row)
    return found


async def member_row(q: Transaction, team_id: str, agent_id: str) -> Row | None:
    return await q.fetch_one(f"{MEMBER_SELECT} WHERE m.team_id = ? AND m.agent_id = ?", (team_id, agent_id))


async def add_member(tx: Transaction, team_id: str, agent_id: str, role: str, now: float) -> Row:
    """Append the agent at the end of the team's order."""
    last = await tx.fetch_one("SELECT MAX(position) AS p FROM team_members WHERE team_id = ?", (team_id,))
    position = 0 if last is None or last["p"] is None else int(last["p"]) + 1
    await tx.execute(
        "INSERT INTO team_members (team_id, agent_id, role, position, added_at) VALUES (?, ?, ?, ?, ?)",
        (team_id, agent_id, role, position, now),
    )
    await tx.execute("UPDATE teams SET updated_at = ? WHERE team_id = ?", (now, team_id))
    row = await member_row(tx, team_id, agent_id)
    assert row is not None
    return row


async def renumber(tx: Transaction, team_id: str) -> None:
    """Close the gap a removal left: positions run 0..n-1 again, in the same order."""
    rows = await tx.fetch_all("SELECT agent_id FROM team_members WHERE team_id = ? ORDER BY position", (team_id,))
    for position, row in enumerate(rows):
        await tx.execute(
            "UPDATE team_members SET position = ? WHERE team_id = ? AND agent_id = ? AND position != ?",
            (position, team_id, row["agent_id"], position),
        )


async def remove_member(tx: Transaction, team_id: str, agent_id: str, now: float) -> bool:
    removed = await tx.execute("DELETE FROM team_members WHERE team_id = ? AND agent_id = ?", (team_id, agent_id))
    if removed:
        await renumber(tx, team_id)
        await tx.execute("UPDATE teams SET updated_at = ? WHERE team_id = ?", (now, team_id))
    return bool(removed)


async def leave_all_teams(tx: Transaction, agent_id: str, now: float) -> list[str]:
    """Remove the agent from every team (it is being deleted); return those teams."""
    teams = [r["team_id"] for r in await tx.fetch_all(
        "SELECT team_id FROM team_members WHERE agent_id = ?", (agent_id,))]
    for team_id in teams:
        await remove_member(tx, team_id, agent_id, now)
    return teams


async def definition_by_name(q: Transaction, name: str) -> Row | None:
    return await q.fetch_one("SELECT * FROM agent_definitions WHERE name = ?", (name,))
