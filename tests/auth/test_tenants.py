"""OrganizationService and ClientAdminService through the real auth unit over gRPC."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from agentmesh.v1 import auth_pb2, auth_pb2_grpc
from google.protobuf import field_mask_pb2, json_format
from google.rpc import error_details_pb2

from services.common.errors import status_from_trailers
from tests.auth.conftest import Account, bearer, signed_in

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seed_bodies.json"
Code = grpc.StatusCode


# -- helpers ------------------------------------------------------------------


def orgs(channel: grpc.aio.Channel) -> Any:
    return auth_pb2_grpc.OrganizationServiceStub(channel)


def clients(channel: grpc.aio.Channel) -> Any:
    return auth_pb2_grpc.ClientAdminServiceStub(channel)


async def fails(call: Awaitable[Any], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value


def violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    """Field -> description of the BadRequest detail the unit attached."""
    status = status_from_trailers(err.trailing_metadata())
    assert status is not None
    found: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def create_org(channel: grpc.aio.Channel, who: Account, name: str, **fields: Any) -> Any:
    reply = await orgs(channel).CreateOrganization(
        auth_pb2.CreateOrganizationRequest(name=name, **fields), metadata=who.metadata
    )
    return reply.organization


async def add(channel: grpc.aio.Channel, by: Account, org_id: str, who: Account, role: str = "") -> Any:
    reply = await orgs(channel).AddMember(
        auth_pb2.AddMemberRequest(organization_id=org_id, user_id=who.user_id, role=role), metadata=by.metadata
    )
    return reply.member


async def set_role(channel: grpc.aio.Channel, by: Account, org_id: str, who: Account, role: str) -> Any:
    return await orgs(channel).UpdateMember(
        auth_pb2.UpdateMemberRequest(organization_id=org_id, user_id=who.user_id, role=role), metadata=by.metadata
    )


async def members(channel: grpc.aio.Channel, by: Account, org_id: str, **fields: Any) -> dict[str, str]:
    reply = await orgs(channel).ListMembers(
        auth_pb2.ListMembersRequest(organization_id=org_id, **fields), metadata=by.metadata
    )
    return {m.user_id: m.role for m in reply.members}


async def switch(channel: grpc.aio.Channel, who: Account, org_id: str) -> Any:
    return await orgs(channel).SwitchOrganization(
        auth_pb2.SwitchOrganizationRequest(organization_id=org_id), metadata=who.metadata
    )


async def current_tenant(channel: grpc.aio.Channel, who: Account) -> str:
    reply = await auth_pb2_grpc.UserServiceStub(channel).GetMe(auth_pb2.GetMeRequest(), metadata=who.metadata)
    return str(reply.user.tenant_id)


# -- creating, reading, isolation ----------------------------------------------------


async def test_seed_001_body_creates_an_organization_owned_by_the_caller(auth_channel: grpc.aio.Channel) -> None:
    alice = await signed_in(auth_channel)
    body = next(b["body"] for b in json.loads(SEEDS.read_text())
                if b["method"] == "POST" and b["path"] == "/api/v1/organizations")
    request = json_format.ParseDict(body, auth_pb2.CreateOrganizationRequest())
    created = (await orgs(auth_channel).CreateOrganization(request, metadata=alice.metadata)).organization
    assert (created.name, created.slug, created.description) == ("My Organization", "my-org",
                                                                 "My awesome organization")
    assert (created.tier, created.status, created.owner_id, created.member_count) == ("free", "active",
                                                                                      alice.user_id, 1)
    assert created.organization_id.startswith("org_")
    assert created.HasField("created_at")
    listed = await orgs(auth_channel).ListMembers(
        auth_pb2.ListMembersRequest(organization_id=created.organization_id), metadata=alice.metadata
    )
    [owner] = listed.members
    assert (owner.user_id, owner.role, owner.email, owner.username) == (alice.user_id, "owner", alice.email,
                                                                        alice.username)
    assert owner.invited_by == ""
    got = await orgs(auth_channel).GetOrganization(
        auth_pb2.GetOrganizationRequest(organization_id=created.organization_id), metadata=alice.metadata
    )
    assert got.organization == created


async def test_slug_is_derived_from_the_name_and_kept_unique(auth_channel: grpc.aio.Channel) -> None:
    alice, bob = await signed_in(auth_channel), await signed_in(auth_channel)
    first = await create_org(auth_channel, alice, "Acme  Corp!")
    assert first.slug == "acme-corp"
    second = await create_org(auth_channel, bob, "ACME corp")
    assert second.slug.startswith("acme-corp-")
    assert second.slug != first.slug
    err = await fails(create_org(auth_channel, bob, "Other", slug="acme-corp"), Code.ALREADY_EXISTS)
    assert "acme-corp" in (err.details() or "")
    # Deleting frees the slug.
    await orgs(auth_channel).DeleteOrganization(
        auth_pb2.DeleteOrganizationRequest(organization_id=first.organization_id), metadata=alice.metadata
    )
    assert (await create_org(auth_channel, bob, "Again", slug="acme-corp")).slug == "acme-corp"


async def test_bad_input_is_invalid_argument_with_field_violations(auth_channel: grpc.aio.Channel) -> None:
    alice = await signed_in(auth_channel)
    err = await fails(create_org(auth_channel, alice, "Fine", slug="Bad Slug!"), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"slug"}
    err = await fails(create_org(auth_channel, alice, "  ", slug="-x", tier="gold"), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"name", "slug", "tier"}
    # Nothing was written.
    listed = await orgs(auth_channel).ListOrganizations(auth_pb2.ListOrganizationsRequest(), metadata=alice.metadata)
    assert [o.organization_id for o in listed.organizations] == [alice.tenant_id]


async def test_tiers_above_free_need_an_admin(auth_channel: grpc.aio.Channel) -> None:
    alice = await signed_in(auth_channel)
    err = await fails(create_org(auth_channel, alice, "Paid", tier="pro"), Code.PERMISSION_DENIED)
    assert "tier" in (err.details() or "")
    admin = await signed_in(auth_channel, role="admin")
    assert (await create_org(auth_channel, admin, "Paid", tier="enterprise")).tier == "enterprise"


async def test_other_tenants_are_not_found_never_forbidden(auth_channel: grpc.aio.Channel) -> None:
    alice, mallory = await signed_in(auth_channel), await signed_in(auth_channel)
    org = await create_org(auth_channel, alice, "Private")
    stub, oid, meta = orgs(auth_channel), org.organization_id, mallory.metadata
    for call in (
        stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=oid), metadata=meta),
        stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=alice.tenant_id), metadata=meta),
        stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id="org_nope"), metadata=meta),
        stub.UpdateOrganization(auth_pb2.UpdateOrganizationRequest(organization_id=oid, name="x"), metadata=meta),
        stub.DeleteOrganization(auth_pb2.DeleteOrganizationRequest(organization_id=oid), metadata=meta),
        stub.ListMembers(auth_pb2.ListMembersRequest(organization_id=oid), metadata=meta),
        stub.AddMember(auth_pb2.AddMemberRequest(organization_id=oid, user_id=mallory.user_id), metadata=meta),
        stub.RemoveMember(auth_pb2.RemoveMemberRequest(organization_id=oid, user_id=alice.user_id), metadata=meta),
        stub.SwitchOrganization(auth_pb2.SwitchOrganizationRequest(organization_id=oid), metadata=meta),
    ):
        err = await fails(call, Code.NOT_FOUND)
        assert "Private" not in (err.details() or "")
    listed = await stub.ListOrganizations(auth_pb2.ListOrganizationsRequest(), metadata=meta)
    assert [o.organization_id for o in listed.organizations] == [mallory.tenant_id]
    # Platform admins may read any tenant.
    admin = await signed_in(auth_channel, role="admin")
    got = await stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=oid), metadata=admin.metadata)
    assert got.organization.name == "Private"


async def test_list_organizations_pages_searches_and_sorts(auth_channel: grpc.aio.Channel) -> None:
    alice = await signed_in(auth_channel)
    for name in ("Gamma", "Alpha", "Beta"):
        await create_org(auth_channel, alice, name)
    stub = orgs(auth_channel)
    first = await stub.ListOrganizations(
        auth_pb2.ListOrganizationsRequest(page_size=2, order_by="name"), metadata=alice.metadata
    )
    assert first.total_size == 4
    assert [o.name for o in first.organizations] == ["Alpha", "Beta"]
    assert first.next_page_token
    second = await stub.ListOrganizations(
        auth_pb2.ListOrganizationsRequest(page_size=2, order_by="name", page_token=first.next_page_token),
        metadata=alice.metadata,
    )
    assert [o.name for o in second.organizations] == ["Gamma", f"{alice.username}'s workspace"]
    assert second.next_page_token == ""
    found = await stub.ListOrganizations(auth_pb2.ListOrganizationsRequest(search="ET"), metadata=alice.metadata)
    assert [o.name for o in found.organizations] == ["Beta"]
    assert found.total_size == 1
    seed_style = await stub.ListOrganizations(
        auth_pb2.ListOrganizationsRequest(limit=1, offset=3, order_by="name desc"), metadata=alice.metadata
    )
    assert [o.name for o in seed_style.organizations] == ["Alpha"]
    filtered = await stub.ListOrganizations(
        auth_pb2.ListOrganizationsRequest(filter='name="Gamma"'), metadata=alice.metadata
    )
    assert [o.name for o in filtered.organizations] == ["Gamma"]
    err = await fails(
        stub.ListOrganizations(auth_pb2.ListOrganizationsRequest(order_by="password"), metadata=alice.metadata),
        Code.INVALID_ARGUMENT,
    )
    assert set(violations(err)) == {"order_by"}


# -- updating and deleting ----------------------------------------------------------


async def test_update_needs_owner_or_admin_and_changes_only_what_was_sent(auth_channel: grpc.aio.Channel) -> None:
    owner, admin_member, plain = [await signed_in(auth_channel) for _ in range(3)]
    org = await create_org(auth_channel, owner, "Team", slug="team", description="first")
    oid = org.organization_id
    await add(auth_channel, owner, oid, admin_member, "admin")
    await add(auth_channel, owner, oid, plain)
    stub = orgs(auth_channel)

    err = await fails(
        stub.UpdateOrganization(auth_pb2.UpdateOrganizationRequest(organization_id=oid, name="Mine"),
                                metadata=plain.metadata),
        Code.PERMISSION_DENIED,
    )
    assert "owner or admin" in (err.details() or "")

    renamed = await stub.UpdateOrganization(
        auth_pb2.UpdateOrganizationRequest(organization_id=oid, name="Team Two"), metadata=admin_member.metadata
    )
    assert (renamed.organization.name, renamed.organization.slug, renamed.organization.description) == (
        "Team Two", "team", "first")

    masked = await stub.UpdateOrganization(
        auth_pb2.UpdateOrganizationRequest(
            organization_id=oid, name="Ignored", description="second",
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
        metadata=owner.metadata,
    )
    assert (masked.organization.name, masked.organization.description) == ("Team Two", "second")

    cleared = await stub.UpdateOrganization(
        auth_pb2.UpdateOrganizationRequest(organization_id=oid, description=""), metadata=owner.metadata
    )
    assert cleared.organization.description == ""

    err = await fails(
        stub.UpdateOrganization(auth_pb2.UpdateOrganizationRequest(organization_id=oid, slug="Not OK", name=""),
                                metadata=owner.metadata),
        Code.INVALID_ARGUMENT,
    )
    assert set(violations(err)) == {"slug", "name"}
    err = await fails(
        stub.UpdateOrganization(
            auth_pb2.UpdateOrganizationRequest(organization_id=oid, update_mask=field_mask_pb2.FieldMask(
                paths=["tier"])),
            metadata=owner.metadata,
        ),
        Code.INVALID_ARGUMENT,
    )
    assert set(violations(err)) == {"update_mask"}
    await create_org(auth_channel, plain, "Taken", slug="taken")
    await fails(
        stub.UpdateOrganization(auth_pb2.UpdateOrganizationRequest(organization_id=oid, slug="taken"),
                                metadata=owner.metadata),
        Code.ALREADY_EXISTS,
    )
    after = await stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=oid), metadata=plain.metadata)
    assert (after.organization.name, after.organization.slug) == ("Team Two", "team")


async def test_delete_rules(auth_channel: grpc.aio.Channel) -> None:
    owner, admin_member, plain = [await signed_in(auth_channel) for _ in range(3)]
    stub = orgs(auth_channel)
    err = await fails(
        stub.DeleteOrganization(auth_pb2.DeleteOrganizationRequest(organization_id=owner.tenant_id),
                                metadata=owner.metadata),
        Code.FAILED_PRECONDITION,
    )
    assert "personal" in (err.details() or "")

    org = await create_org(auth_channel, owner, "Doomed")
    oid = org.organization_id
    await add(auth_channel, owner, oid, admin_member, "admin")
    await add(auth_channel, owner, oid, plain)
    await fails(
        stub.DeleteOrganization(auth_pb2.DeleteOrganizationRequest(organization_id=oid),
                                metadata=admin_member.metadata),
        Code.PERMISSION_DENIED,
    )
    # plain works in the organization: it is their current tenant, with a session scoped to it.
    switched = await switch(auth_channel, plain, oid)
    assert await current_tenant(auth_channel, plain) == oid

    await stub.DeleteOrganization(auth_pb2.DeleteOrganizationRequest(organization_id=oid), metadata=owner.metadata)

    await fails(stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=oid), metadata=owner.metadata),
                Code.NOT_FOUND)
    listed = await stub.ListOrganizations(auth_pb2.ListOrganizationsRequest(), metadata=plain.metadata)
    assert [o.organization_id for o in listed.organizations] == [plain.tenant_id]
    # Moved back to their personal organization; the session scoped to the deleted one is over.
    assert await current_tenant(auth_channel, plain) == plain.tenant_id
    await fails(stub.ListOrganizations(auth_pb2.ListOrganizationsRequest(), metadata=bearer(switched.access_token)),
                Code.UNAUTHENTICATED)
    await fails(
        stub.DeleteOrganization(auth_pb2.DeleteOrganizationRequest(organization_id=oid), metadata=owner.metadata),
        Code.NOT_FOUND,
    )


# -- members -------------------------------------------------------------------------


async def test_adding_members(auth_channel: grpc.aio.Channel) -> None:
    owner, admin_member, plain, newcomer, other = [await signed_in(auth_channel) for _ in range(5)]
    oid = (await create_org(auth_channel, owner, "Crew")).organization_id
    stub = orgs(auth_channel)

    by_email = await stub.AddMember(
        auth_pb2.AddMemberRequest(organization_id=oid, email=admin_member.email.upper(), role="admin"),
        metadata=owner.metadata,
    )
    assert (by_email.member.user_id, by_email.member.role, by_email.member.invited_by) == (
        admin_member.user_id, "admin", owner.user_id)
    assert (by_email.member.username, by_email.member.email) == (admin_member.username, admin_member.email)
    assert (await add(auth_channel, owner, oid, plain)).role == "member"

    await fails(add(auth_channel, owner, oid, plain), Code.ALREADY_EXISTS)
    await fails(stub.AddMember(auth_pb2.AddMemberRequest(organization_id=oid, email="ghost@example.com"),
                               metadata=owner.metadata), Code.NOT_FOUND)
    await fails(stub.AddMember(auth_pb2.AddMemberRequest(organization_id=oid, user_id="usr_ghost"),
                               metadata=owner.metadata), Code.NOT_FOUND)
    err = await fails(stub.AddMember(auth_pb2.AddMemberRequest(organization_id=oid), metadata=owner.metadata),
                      Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"user_id", "email"}
    err = await fails(add(auth_channel, owner, oid, newcomer, "owner"), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"role"}
    # A member cannot add; an admin can, but only the owner grants admin.
    await fails(add(auth_channel, plain, oid, newcomer), Code.PERMISSION_DENIED)
    err = await fails(add(auth_channel, admin_member, oid, newcomer, "admin"), Code.PERMISSION_DENIED)
    assert "owner" in (err.details() or "")
    assert (await add(auth_channel, admin_member, oid, newcomer, "viewer")).role == "viewer"

    assert await members(auth_channel, plain, oid) == {
        owner.user_id: "owner", admin_member.user_id: "admin", plain.user_id: "member", newcomer.user_id: "viewer",
    }
    assert await members(auth_channel, plain, oid, role="viewer") == {newcomer.user_id: "viewer"}
    page = await stub.ListMembers(auth_pb2.ListMembersRequest(organization_id=oid, page_size=3, order_by="role"),
                                  metadata=plain.metadata)
    assert [m.role for m in page.members] == ["owner", "admin", "member"]
    assert (page.total_size, bool(page.next_page_token)) == (4, True)
    await fails(stub.ListMembers(auth_pb2.ListMembersRequest(organization_id=oid, role="boss"),
                                 metadata=plain.metadata), Code.INVALID_ARGUMENT)
    # The new members see the organization; the others still do not.
    got = await stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=oid), metadata=newcomer.metadata)
    assert got.organization.member_count == 4
    await fails(stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=oid), metadata=other.metadata),
                Code.NOT_FOUND)


async def test_roles_and_ownership_transfer(auth_channel: grpc.aio.Channel) -> None:
    owner, admin_member, plain = [await signed_in(auth_channel) for _ in range(3)]
    oid = (await create_org(auth_channel, owner, "Relay")).organization_id
    await add(auth_channel, owner, oid, admin_member, "admin")
    await add(auth_channel, owner, oid, plain)

    await fails(set_role(auth_channel, plain, oid, plain, "admin"), Code.PERMISSION_DENIED)
    await fails(set_role(auth_channel, admin_member, oid, plain, "admin"), Code.PERMISSION_DENIED)
    assert (await set_role(auth_channel, admin_member, oid, plain, "viewer")).member.role == "viewer"
    await fails(set_role(auth_channel, admin_member, oid, plain, "owner"), Code.PERMISSION_DENIED)
    err = await fails(set_role(auth_channel, owner, oid, owner, "member"), Code.FAILED_PRECONDITION)
    assert "ownership" in (err.details() or "")
    await fails(set_role(auth_channel, owner, oid, plain, "chief"), Code.INVALID_ARGUMENT)
    await fails(
        orgs(auth_channel).UpdateMember(
            auth_pb2.UpdateMemberRequest(organization_id=oid, user_id="usr_ghost", role="member"),
            metadata=owner.metadata,
        ),
        Code.NOT_FOUND,
    )

    transferred = await set_role(auth_channel, owner, oid, plain, "owner")
    assert transferred.member.role == "owner"
    assert await members(auth_channel, owner, oid) == {
        owner.user_id: "admin", admin_member.user_id: "admin", plain.user_id: "owner",
    }
    got = await orgs(auth_channel).GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=oid),
                                                   metadata=owner.metadata)
    assert got.organization.owner_id == plain.user_id
    # The previous owner is an admin now: no more owner powers.
    await fails(set_role(auth_channel, owner, oid, admin_member, "member"), Code.PERMISSION_DENIED)
    await fails(orgs(auth_channel).DeleteOrganization(auth_pb2.DeleteOrganizationRequest(organization_id=oid),
                                                      metadata=owner.metadata), Code.PERMISSION_DENIED)
    assert (await set_role(auth_channel, plain, oid, admin_member, "member")).member.role == "member"
    # A personal organization keeps its owner.
    await add(auth_channel, owner, owner.tenant_id, plain)
    await fails(set_role(auth_channel, owner, owner.tenant_id, plain, "owner"), Code.FAILED_PRECONDITION)


async def test_removing_members(auth_channel: grpc.aio.Channel) -> None:
    owner, admin_a, admin_b, plain, leaver = [await signed_in(auth_channel) for _ in range(5)]
    oid = (await create_org(auth_channel, owner, "Club")).organization_id
    for who, role in ((admin_a, "admin"), (admin_b, "admin"), (plain, "member"), (leaver, "viewer")):
        await add(auth_channel, owner, oid, who, role)
    stub = orgs(auth_channel)

    def remove(by: Account, who: Account) -> Awaitable[Any]:
        return stub.RemoveMember(auth_pb2.RemoveMemberRequest(organization_id=oid, user_id=who.user_id),
                                 metadata=by.metadata)

    await fails(remove(admin_a, owner), Code.FAILED_PRECONDITION)
    await fails(remove(owner, owner), Code.FAILED_PRECONDITION)
    await fails(remove(plain, leaver), Code.PERMISSION_DENIED)
    await fails(remove(admin_a, admin_b), Code.PERMISSION_DENIED)

    # Leaving by oneself is always allowed (but the owner's).
    await remove(leaver, leaver)
    await fails(stub.GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=oid), metadata=leaver.metadata),
                Code.NOT_FOUND)

    # The removed member's session scoped to the organization ends; their other sessions go on.
    switched = await switch(auth_channel, plain, oid)
    await remove(admin_a, plain)
    await fails(stub.ListOrganizations(auth_pb2.ListOrganizationsRequest(), metadata=bearer(switched.access_token)),
                Code.UNAUTHENTICATED)
    still = await stub.ListOrganizations(auth_pb2.ListOrganizationsRequest(), metadata=plain.metadata)
    assert [o.organization_id for o in still.organizations] == [plain.tenant_id]
    assert await current_tenant(auth_channel, plain) == plain.tenant_id
    await fails(remove(owner, plain), Code.NOT_FOUND)

    await remove(owner, admin_b)
    assert await members(auth_channel, owner, oid) == {owner.user_id: "owner", admin_a.user_id: "admin"}


async def test_switch_organization_returns_tokens_for_the_new_tenant(auth_channel: grpc.aio.Channel) -> None:
    owner, bob = await signed_in(auth_channel), await signed_in(auth_channel)
    org = await create_org(auth_channel, owner, "Elsewhere")
    oid = org.organization_id
    await add(auth_channel, owner, oid, bob, "viewer")
    assert claims(bob.access_token)["tid"] == bob.tenant_id

    reply = await switch(auth_channel, bob, oid)
    assert reply.token_type == "bearer"
    assert reply.expires_in > 0
    assert reply.refresh_expires_in > 0
    assert reply.organization.organization_id == oid
    access = claims(reply.access_token)
    assert (access["tid"], access["sub"]) == (oid, bob.user_id)
    assert "tenant:read" in access["perms"]
    assert "tenant:write" not in access["perms"]
    assert await current_tenant(auth_channel, bob) == oid

    # The refresh token of the new pair stays in the new tenant.
    refreshed = await auth_pb2_grpc.AuthServiceStub(auth_channel).RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=reply.refresh_token)
    )
    assert claims(refreshed.access_token)["tid"] == oid

    back = await switch(auth_channel, bob, bob.tenant_id)
    assert claims(back.access_token)["tid"] == bob.tenant_id

    # A suspended organization cannot be entered.
    admin = await signed_in(auth_channel, role="admin")
    await clients(auth_channel).AdminUpdateClient(
        auth_pb2.AdminUpdateClientRequest(client_id=oid, status="suspended"), metadata=admin.metadata
    )
    await fails(switch(auth_channel, bob, oid), Code.FAILED_PRECONDITION)


# -- ClientAdminService ------------------------------------------------------------


async def test_client_admin_needs_an_admin(auth_channel: grpc.aio.Channel) -> None:
    user = await signed_in(auth_channel)
    stub = clients(auth_channel)
    for call in (
        stub.AdminListClients(auth_pb2.AdminListClientsRequest(), metadata=user.metadata),
        stub.AdminGetClient(auth_pb2.AdminGetClientRequest(client_id=user.tenant_id), metadata=user.metadata),
        stub.AdminCreateClient(auth_pb2.AdminCreateClientRequest(name="X"), metadata=user.metadata),
        stub.AdminGetClientStats(auth_pb2.AdminGetClientStatsRequest(client_id=user.tenant_id),
                                 metadata=user.metadata),
    ):
        await fails(call, Code.PERMISSION_DENIED)


async def test_client_admin_lists_with_filters_and_paging(auth_channel: grpc.aio.Channel) -> None:
    admin = await signed_in(auth_channel, role="admin")
    stub = clients(auth_channel)
    for name, tier, status, email in (
        ("Northwind", "pro", "active", "ops@northwind.example"),
        ("Contoso", "enterprise", "active", "it@contoso.example"),
        ("Fabrikam", "pro", "suspended", "admin@fabrikam.example"),
        ("Tailspin", "free", "active", ""),
    ):
        await stub.AdminCreateClient(
            auth_pb2.AdminCreateClientRequest(name=name, tier=tier, status=status, contact_email=email),
            metadata=admin.metadata,
        )

    async def names(**fields: Any) -> tuple[list[str], int, str]:
        reply = await stub.AdminListClients(auth_pb2.AdminListClientsRequest(**fields), metadata=admin.metadata)
        return [c.name for c in reply.clients], reply.total_size, reply.next_page_token

    assert (await names(tier="pro", order_by="name"))[:2] == (["Fabrikam", "Northwind"], 2)
    assert (await names(status="suspended"))[:2] == (["Fabrikam"], 1)
    assert (await names(tier="pro", status="active"))[:2] == (["Northwind"], 1)
    assert (await names(search="CONTOSO.example"))[:2] == (["Contoso"], 1)
    assert (await names(filter='tier!="free" AND name:"w"'))[:2] == (["Northwind"], 1)

    everything, total, _ = await names(page_size=100)
    assert total == len(everything) >= 5  # these four, the admin's own and the platform organization
    assert everything[:4] == ["Tailspin", "Fabrikam", "Contoso", "Northwind"]  # newest first
    seen: list[str] = []
    token = ""
    while True:
        page, page_total, token = await names(page_size=2, page_token=token, order_by="name")
        assert page_total == total
        assert len(page) <= 2
        seen += page
        if not token:
            break
    assert seen == sorted(everything)

    err = await fails(stub.AdminListClients(auth_pb2.AdminListClientsRequest(tier="gold", status="gone"),
                                            metadata=admin.metadata), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"tier", "status"}
    await fails(stub.AdminListClients(auth_pb2.AdminListClientsRequest(page_token="garbage"),
                                      metadata=admin.metadata), Code.INVALID_ARGUMENT)


async def test_client_admin_create_get_update_delete(auth_channel: grpc.aio.Channel) -> None:
    admin = await signed_in(auth_channel, role="admin")
    owner, outsider = await signed_in(auth_channel), await signed_in(auth_channel)
    stub = clients(auth_channel)

    await fails(stub.AdminCreateClient(auth_pb2.AdminCreateClientRequest(name="Ghost Co", owner_id="usr_ghost"),
                                       metadata=admin.metadata), Code.NOT_FOUND)
    err = await fails(
        stub.AdminCreateClient(auth_pb2.AdminCreateClientRequest(name="Bad", contact_email="nope", slug="B A D"),
                               metadata=admin.metadata),
        Code.INVALID_ARGUMENT,
    )
    assert set(violations(err)) == {"contact_email", "slug"}

    created = (await stub.AdminCreateClient(
        auth_pb2.AdminCreateClientRequest(name="Globex", tier="enterprise", contact_email="Boss@Globex.example",
                                          owner_id=owner.user_id),
        metadata=admin.metadata,
    )).client
    cid = created.client_id
    assert (created.slug, created.tier, created.status, created.contact_email, created.owner_id,
            created.member_count) == ("globex", "enterprise", "active", "boss@globex.example", owner.user_id, 1)
    assert await members(auth_channel, owner, cid) == {owner.user_id: "owner"}
    got = await stub.AdminGetClient(auth_pb2.AdminGetClientRequest(client_id=cid), metadata=admin.metadata)
    assert got.client == created
    unowned = (await stub.AdminCreateClient(auth_pb2.AdminCreateClientRequest(name="Nobody's"),
                                            metadata=admin.metadata)).client
    assert (unowned.owner_id, unowned.member_count, unowned.slug) == ("", 0, "nobody-s")

    # Suspending records the status and ends the sessions scoped to the tenant.
    session = await switch(auth_channel, owner, cid)
    updated = (await stub.AdminUpdateClient(
        auth_pb2.AdminUpdateClientRequest(client_id=cid, status="suspended", tier="pro"), metadata=admin.metadata
    )).client
    assert (updated.status, updated.tier, updated.name) == ("suspended", "pro", "Globex")
    assert updated.updated_at.ToNanoseconds() >= created.updated_at.ToNanoseconds()
    await fails(orgs(auth_channel).ListOrganizations(auth_pb2.ListOrganizationsRequest(),
                                                     metadata=bearer(session.access_token)), Code.UNAUTHENTICATED)
    seen_by_owner = await orgs(auth_channel).GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=cid),
                                                             metadata=owner.metadata)
    assert (seen_by_owner.organization.status, seen_by_owner.organization.tier) == ("suspended", "pro")
    reactivated = await stub.AdminUpdateClient(
        auth_pb2.AdminUpdateClientRequest(client_id=cid, status="active"), metadata=admin.metadata
    )
    assert reactivated.client.status == "active"

    err = await fails(stub.AdminUpdateClient(auth_pb2.AdminUpdateClientRequest(client_id=cid, status="paused"),
                                             metadata=admin.metadata), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"status"}
    await fails(stub.AdminUpdateClient(auth_pb2.AdminUpdateClientRequest(client_id=cid, owner_id=outsider.user_id),
                                       metadata=admin.metadata), Code.FAILED_PRECONDITION)
    await add(auth_channel, owner, cid, outsider)
    handed = await stub.AdminUpdateClient(
        auth_pb2.AdminUpdateClientRequest(client_id=cid, owner_id=outsider.user_id), metadata=admin.metadata
    )
    assert handed.client.owner_id == outsider.user_id
    assert await members(auth_channel, owner, cid) == {owner.user_id: "admin", outsider.user_id: "owner"}
    await fails(stub.AdminUpdateClient(auth_pb2.AdminUpdateClientRequest(client_id="org_nope", name="x"),
                                       metadata=admin.metadata), Code.NOT_FOUND)

    err = await fails(stub.AdminDeleteClient(auth_pb2.AdminDeleteClientRequest(client_id=owner.tenant_id),
                                             metadata=admin.metadata), Code.FAILED_PRECONDITION)
    assert "personal" in (err.details() or "")
    await stub.AdminDeleteClient(auth_pb2.AdminDeleteClientRequest(client_id=cid), metadata=admin.metadata)
    await fails(stub.AdminGetClient(auth_pb2.AdminGetClientRequest(client_id=cid), metadata=admin.metadata),
                Code.NOT_FOUND)
    await fails(stub.AdminDeleteClient(auth_pb2.AdminDeleteClientRequest(client_id=cid), metadata=admin.metadata),
                Code.NOT_FOUND)
    await fails(orgs(auth_channel).GetOrganization(auth_pb2.GetOrganizationRequest(organization_id=cid),
                                                   metadata=owner.metadata), Code.NOT_FOUND)


async def test_client_stats(auth_channel: grpc.aio.Channel) -> None:
    admin = await signed_in(auth_channel, role="admin")
    owner, worker, blocked = [await signed_in(auth_channel) for _ in range(3)]
    oid = (await create_org(auth_channel, owner, "Counted")).organization_id
    await add(auth_channel, owner, oid, worker)
    await add(auth_channel, owner, oid, blocked)
    await auth_pb2_grpc.UserAdminServiceStub(auth_channel).AdminUpdateUser(
        auth_pb2.AdminUpdateUserRequest(user_id=blocked.user_id, status="blocked"), metadata=admin.metadata
    )
    # Two keys scoped to the organization, one of them revoked.
    session = await switch(auth_channel, worker, oid)
    keys = auth_pb2_grpc.ApiKeyServiceStub(auth_channel)
    kept = await keys.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="ci"), metadata=bearer(session.access_token))
    gone = await keys.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="old"), metadata=bearer(session.access_token))
    assert kept.api_key.tenant_id == oid
    await keys.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(api_key_id=gone.api_key.api_key_id),
                            metadata=bearer(session.access_token))

    async def stats() -> Any:
        return await clients(auth_channel).AdminGetClientStats(
            auth_pb2.AdminGetClientStatsRequest(client_id=oid), metadata=admin.metadata
        )

    assert not (await stats()).HasField("last_login_at")  # registering is not signing in
    await auth_pb2_grpc.AuthServiceStub(auth_channel).Login(
        auth_pb2.LoginRequest(username=worker.username, password="correct horse 1")
    )
    counted = await stats()
    assert (counted.client_id, counted.total_users, counted.active_users, counted.blocked_users,
            counted.active_api_keys) == (oid, 3, 2, 1, 1)
    assert counted.HasField("last_login_at")

    # Removing the key's owner from the organization revokes the key.
    await orgs(auth_channel).RemoveMember(auth_pb2.RemoveMemberRequest(organization_id=oid, user_id=worker.user_id),
                                          metadata=owner.metadata)
    after = await stats()
    assert (after.total_users, after.active_users, after.active_api_keys) == (2, 1, 0)
    await fails(clients(auth_channel).AdminGetClientStats(auth_pb2.AdminGetClientStatsRequest(client_id="org_nope"),
                                                          metadata=admin.metadata), Code.NOT_FOUND)
