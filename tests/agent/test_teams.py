"""TeamService against the real agent unit: members in order, strategies, isolation, agents' team_ids."""

from __future__ import annotations

import grpc
from agentmesh.v1 import agent_pb2
from google.protobuf import field_mask_pb2

from tests.agent.conftest import Mesh, People, fails, violations
from tests.auth.conftest import Account

Code = grpc.StatusCode


async def _agents(mesh: Mesh, who: Account, *names: str) -> list[str]:
    return [(await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name=n, type="echo"),
                                           metadata=who.metadata)).agent.agent_id for n in names]


async def _team(mesh: Mesh, who: Account, team_id: str) -> agent_pb2.Team:
    team: agent_pb2.Team = (await mesh.teams.GetTeam(agent_pb2.GetTeamRequest(team_id=team_id),
                                                     metadata=who.metadata)).team
    return team


async def test_members_keep_their_order_through_changes(mesh: Mesh, people: People) -> None:
    alice = people.alice
    a, b, c, d = await _agents(mesh, alice, "a", "b", "c", "d")
    created = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="crew", agent_ids=[b, a, c]),
                                           metadata=alice.metadata)).team
    assert (created.strategy, list(created.agent_ids), created.owner_id) == ("sequential", [b, a, c], alice.user_id)
    assert [(m.agent_id, m.position, m.role, m.agent_name) for m in created.members] == [
        (b, 0, "member", "b"), (a, 1, "member", "a"), (c, 2, "member", "c")]
    added = (await mesh.teams.AddTeamMember(agent_pb2.AddTeamMemberRequest(team_id=created.team_id, agent_id=d,
                                                                           role="lead"), metadata=alice.metadata))
    assert (added.member.agent_id, added.member.position, added.member.role) == (d, 3, "lead")
    await fails(mesh.teams.AddTeamMember(agent_pb2.AddTeamMemberRequest(team_id=created.team_id, agent_id=d),
                                         metadata=alice.metadata), Code.ALREADY_EXISTS)
    await mesh.teams.RemoveTeamMember(agent_pb2.RemoveTeamMemberRequest(team_id=created.team_id, agent_id=a),
                                      metadata=alice.metadata)
    await fails(mesh.teams.RemoveTeamMember(agent_pb2.RemoveTeamMemberRequest(team_id=created.team_id, agent_id=a),
                                            metadata=alice.metadata), Code.NOT_FOUND)
    team = await _team(mesh, alice, created.team_id)
    assert [(m.agent_id, m.position) for m in team.members] == [(b, 0), (c, 1), (d, 2)]
    # Deleting a member agent takes it out of the team and closes the gap.
    await mesh.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(agent_id=c), metadata=alice.metadata)
    team = await _team(mesh, alice, created.team_id)
    assert [(m.agent_id, m.position) for m in team.members] == [(b, 0), (d, 1)]


async def test_agents_know_their_teams_and_lists_filter_by_membership(mesh: Mesh, people: People) -> None:
    alice = people.alice
    a, b = await _agents(mesh, alice, "a", "b")
    red = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="red", agent_ids=[a]),
                                       metadata=alice.metadata)).team
    blue = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="blue", strategy="round_robin",
                                                                    agent_ids=[a, b]), metadata=alice.metadata)).team
    joined = (await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="late", team_id=red.team_id),
                                            metadata=alice.metadata)).agent
    assert list(joined.team_ids) == [red.team_id]
    got = (await mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=a), metadata=alice.metadata)).agent
    assert list(got.team_ids) == [red.team_id, blue.team_id]
    in_red = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(team_id=red.team_id), metadata=alice.metadata)
    assert [x.agent_id for x in in_red.agents] == [a, joined.agent_id]
    with_b = await mesh.teams.ListTeams(agent_pb2.ListTeamsRequest(agent_id=b), metadata=alice.metadata)
    assert [t.team_id for t in with_b.teams] == [blue.team_id]
    everything = await mesh.teams.ListTeams(agent_pb2.ListTeamsRequest(order_by="name"), metadata=alice.metadata)
    assert [t.name for t in everything.teams] == ["blue", "red"] and everything.total_size == 2
    assert [len(t.members) for t in everything.teams] == [2, 2]
    # Deleting a team leaves its agents.
    await mesh.teams.DeleteTeam(agent_pb2.DeleteTeamRequest(team_id=red.team_id), metadata=alice.metadata)
    await fails(mesh.teams.GetTeam(agent_pb2.GetTeamRequest(team_id=red.team_id), metadata=alice.metadata),
                Code.NOT_FOUND)
    got = (await mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=a), metadata=alice.metadata)).agent
    assert list(got.team_ids) == [blue.team_id]


async def test_update_and_bad_input(mesh: Mesh, people: People) -> None:
    alice = people.alice
    [a] = await _agents(mesh, alice, "a")
    err = await fails(mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="", strategy="chaos", agent_ids=[a, a]),
                                            metadata=alice.metadata), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"name", "strategy", "agent_ids"}
    await fails(mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="ghosts", agent_ids=[a, "agt_missing"]),
                                      metadata=alice.metadata), Code.NOT_FOUND)
    listed = await mesh.teams.ListTeams(agent_pb2.ListTeamsRequest(), metadata=alice.metadata)
    assert listed.total_size == 0  # the failed create left no team behind
    team = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="t", description="d"),
                                        metadata=alice.metadata)).team
    changed = (await mesh.teams.UpdateTeam(agent_pb2.UpdateTeamRequest(team_id=team.team_id, strategy="first_answer"),
                                           metadata=alice.metadata)).team
    assert (changed.name, changed.description, changed.strategy) == ("t", "d", "first_answer")
    masked = (await mesh.teams.UpdateTeam(agent_pb2.UpdateTeamRequest(
        team_id=team.team_id, name="ignored", update_mask=field_mask_pb2.FieldMask(paths=["description"])),
        metadata=alice.metadata)).team
    assert (masked.name, masked.description) == ("t", "")
    err = await fails(mesh.teams.UpdateTeam(agent_pb2.UpdateTeamRequest(team_id=team.team_id, strategy="vote"),
                                            metadata=alice.metadata), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"strategy"}
    err = await fails(mesh.teams.AddTeamMember(agent_pb2.AddTeamMemberRequest(team_id=team.team_id, agent_id=a,
                                                                              role="boss"), metadata=alice.metadata),
                      Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"role"}


async def test_teams_and_members_of_another_tenant_are_not_found(mesh: Mesh, people: People) -> None:
    alice, bob = people.alice, people.bob
    [mine] = await _agents(mesh, alice, "mine")
    [theirs] = await _agents(mesh, bob, "theirs")
    team = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="alices", agent_ids=[mine]),
                                        metadata=alice.metadata)).team
    tid = team.team_id
    for call in (
        mesh.teams.GetTeam(agent_pb2.GetTeamRequest(team_id=tid), metadata=bob.metadata),
        mesh.teams.UpdateTeam(agent_pb2.UpdateTeamRequest(team_id=tid, name="x"), metadata=bob.metadata),
        mesh.teams.DeleteTeam(agent_pb2.DeleteTeamRequest(team_id=tid), metadata=bob.metadata),
        mesh.teams.AddTeamMember(agent_pb2.AddTeamMemberRequest(team_id=tid, agent_id=theirs), metadata=bob.metadata),
        mesh.teams.RemoveTeamMember(agent_pb2.RemoveTeamMemberRequest(team_id=tid, agent_id=mine),
                                    metadata=bob.metadata),
        # Alice cannot pull bob's agent into her team, at creation or later.
        mesh.teams.AddTeamMember(agent_pb2.AddTeamMemberRequest(team_id=tid, agent_id=theirs),
                                 metadata=alice.metadata),
        mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="mixed", agent_ids=[mine, theirs]),
                              metadata=alice.metadata),
        mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="sneak", team_id=tid), metadata=bob.metadata),
    ):
        await fails(call, Code.NOT_FOUND)
    assert (await mesh.teams.ListTeams(agent_pb2.ListTeamsRequest(), metadata=bob.metadata)).total_size == 0
    assert list((await _team(mesh, alice, tid)).agent_ids) == [mine]


async def test_team_changes_are_announced(mesh: Mesh, people: People) -> None:
    alice = people.alice
    [a] = await _agents(mesh, alice, "a")
    watch = await mesh.watch(alice, ("team.*",))
    team = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="t"), metadata=alice.metadata)).team
    await mesh.teams.AddTeamMember(agent_pb2.AddTeamMemberRequest(team_id=team.team_id, agent_id=a),
                                   metadata=alice.metadata)
    await mesh.teams.RemoveTeamMember(agent_pb2.RemoveTeamMemberRequest(team_id=team.team_id, agent_id=a),
                                      metadata=alice.metadata)
    await mesh.teams.UpdateTeam(agent_pb2.UpdateTeamRequest(team_id=team.team_id, name="u"), metadata=alice.metadata)
    await mesh.teams.DeleteTeam(agent_pb2.DeleteTeamRequest(team_id=team.team_id), metadata=alice.metadata)
    events = await watch.next(5)
    assert [e.type for e in events] == ["team.created", "team.member_added", "team.member_removed", "team.updated",
                                        "team.deleted"]
    assert all(e.subject_id == team.team_id and e.tenant_id == alice.tenant_id for e in events)
    assert events[1].data["agent_id"] == a
