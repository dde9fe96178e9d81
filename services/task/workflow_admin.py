"""WorkflowAdminService: every tenant's workflows, for platform admins (seed 002's /api/v1/admin/workflows).

The policy admits only the admin roles; the definitions are validated and
stored exactly as WorkflowService does (services.task.catalog), without the
tenant scope.
"""

from __future__ import annotations

from typing import Any

import grpc
from agentmesh.v1 import task_pb2

from services.common import authctx
from services.common.authctx import Actor
from services.common.crud import required_id
from services.common.errors import PermissionDenied
from services.task.catalog import WorkflowCatalog
from services.task.dag import Step
from services.task.query import Where
from services.task.runs import ADMIN_WORKFLOW_COLUMNS, workflow_message


def _admin() -> authctx.Caller:
    caller = authctx.current()
    if not caller.is_admin:
        raise PermissionDenied("managing every tenant's workflows needs the admin role", reason="ADMIN_REQUIRED")
    return caller


class WorkflowAdminServicer:
    def __init__(self, catalog: WorkflowCatalog) -> None:
        self.catalog = catalog

    async def AdminListWorkflows(self, request: task_pb2.AdminListWorkflowsRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        _admin()
        where = Where()
        tenant_id = request.tenant_id.strip()
        if tenant_id:
            where.add("tenant_id = ?", tenant_id)
        rows, total, token = await self.catalog.find(
            where, request, ADMIN_WORKFLOW_COLUMNS, enabled=request.enabled if request.HasField("enabled") else None,
        )
        return task_pb2.AdminListWorkflowsResponse(workflows=[workflow_message(r) for r in rows],
                                                   next_page_token=token, total_size=total)

    async def AdminCreateWorkflow(self, request: task_pb2.AdminCreateWorkflowRequest,
                                  context: grpc.aio.ServicerContext) -> Any:
        caller = _admin()
        tenant_id = required_id("tenant_id", request.tenant_id)
        # The admin acts in the target tenant, so the agent unit checks the steps' agents against it.
        actor = Actor.of(caller)
        actor = Actor(actor.user_id, tenant_id, actor.role, actor.tier, actor.email, actor.permissions)
        row = await self.catalog.create(
            tenant_id=tenant_id, actor=actor, name=request.name.strip(), description=request.description.strip(),
            steps=[Step.of(s) for s in request.steps], input_schema=request.input_schema,
            enabled=request.enabled if request.HasField("enabled") else True,
        )
        return task_pb2.AdminCreateWorkflowResponse(workflow=workflow_message(row))

    async def AdminGetWorkflow(self, request: task_pb2.AdminGetWorkflowRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        _admin()
        return task_pb2.AdminGetWorkflowResponse(workflow=workflow_message(
            await self.catalog.get(request.workflow_id, None)))

    async def AdminUpdateWorkflow(self, request: task_pb2.AdminUpdateWorkflowRequest,
                                  context: grpc.aio.ServicerContext) -> Any:
        caller = _admin()
        workflow = await self.catalog.get(request.workflow_id, None)
        row = await self.catalog.update(workflow, Actor.of(caller), request)
        return task_pb2.AdminUpdateWorkflowResponse(workflow=workflow_message(row))

    async def AdminDeleteWorkflow(self, request: task_pb2.AdminDeleteWorkflowRequest,
                                  context: grpc.aio.ServicerContext) -> Any:
        caller = _admin()
        workflow = await self.catalog.get(request.workflow_id, None)
        await self.catalog.delete(workflow, Actor.of(caller))
        return task_pb2.AdminDeleteWorkflowResponse()

    async def AdminListWorkflowRuns(self, request: task_pb2.AdminListWorkflowRunsRequest,
                                    context: grpc.aio.ServicerContext) -> Any:
        _admin()
        workflow = await self.catalog.get(request.workflow_id, None)
        runs, total, token = await self.catalog.runs(workflow, request)
        return task_pb2.AdminListWorkflowRunsResponse(runs=runs, next_page_token=token, total_size=total)
