"""BotAdminService (seed 003's /admin/bot) against the real admin and speech units."""

from __future__ import annotations

import grpc
from agentmesh.v1 import admin_pb2, speech_pb2, speech_pb2_grpc
from google.protobuf import field_mask_pb2, struct_pb2

from tests.admin.console_mesh import Console, auth_unit, console_fixture, eventually, settings  # noqa: F401
from tests.agent.conftest import fails, violations
from tests.auth.conftest import auth_channel, quick_throttle, stack  # noqa: F401


def _config(values: dict[str, object]) -> struct_pb2.Struct:
    config = struct_pb2.Struct()
    config.update(values)
    return config


async def test_bot_configuration_is_seed_003s_and_versioned(console: Console) -> None:
    admin = console.people["admin"].metadata
    bot = console.bot
    start = await bot.GetBotConfig(admin_pb2.GetBotConfigRequest(), metadata=admin)
    assert start.version == 0 and list(start.config["supported_languages"]) == ["en", "es", "fr"]
    assert start.config["max_file_size"] == 10485760
    updated = await bot.UpdateBotConfig(admin_pb2.UpdateBotConfigRequest(
        config=_config({"max_file_size": 5242880, "supported_languages": ["en", "de"]}), reason="smaller files"),
        metadata=admin)
    assert updated.version == 1 and updated.config["max_file_size"] == 5242880
    bad = await fails(bot.UpdateBotConfig(admin_pb2.UpdateBotConfigRequest(config=_config(
        {"default_language": "fr", "max_file_size": -1, "supported_languages": ["english"]})), metadata=admin),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(bad)) == {"config.max_file_size", "config.supported_languages"}
    wrong = await fails(bot.UpdateBotConfig(admin_pb2.UpdateBotConfigRequest(config=_config(
        {"default_language": "fr"})), metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    assert "supported_languages" in violations(wrong)["config.default_language"]
    await fails(bot.UpdateBotConfig(admin_pb2.UpdateBotConfigRequest(config=_config({"greeting": "hi"}),
                                                                     expected_version=0), metadata=admin),
                grpc.StatusCode.ABORTED)
    history = await console.platform.ListConfigHistory(admin_pb2.ListConfigHistoryRequest(scope="bot"),
                                                       metadata=admin)
    assert [(v.scope, v.version, v.reason) for v in history.versions] == [("bot", 1, "smaller files")]
    assert (await console.platform.ListConfigHistory(admin_pb2.ListConfigHistoryRequest(),
                                                     metadata=admin)).total_size == 0  # system: untouched

    async def audited() -> list[admin_pb2.AuditEntry]:
        return list((await console.platform.ListAuditLog(admin_pb2.ListAuditLogRequest(
            method="UpdateBotConfig"), metadata=admin)).entries)

    entries = await eventually(audited, lambda found: len(found) == 4)
    assert [e.outcome for e in entries].count("succeeded") == 1
    assert {(e.resource_type, e.resource_id) for e in entries} == {("config", "bot")}


async def test_bot_commands_are_checked_and_audited(console: Console) -> None:
    admin = console.people["admin"].metadata
    bot = console.bot
    made = await bot.CreateBotCommand(admin_pb2.CreateBotCommandRequest(
        name="/help", description="What I can do", response_text="Try /translate"), metadata=admin)
    command = made.command
    assert (command.name, command.action, command.enabled, command.required_role) == ("help", "reply", True, "user")
    await bot.CreateBotCommand(admin_pb2.CreateBotCommandRequest(
        name="translate", action="prompt", prompt_template="Translate {{args}}", usage="/translate <lang> <text>",
        required_role="moderator"), metadata=admin)
    await fails(bot.CreateBotCommand(admin_pb2.CreateBotCommandRequest(name="HELP", response_text="x"),
                                     metadata=admin), grpc.StatusCode.ALREADY_EXISTS)
    bad = await fails(bot.CreateBotCommand(admin_pb2.CreateBotCommandRequest(
        name="9lives", action="webhook", webhook_url="ftp://example.com", required_role="owner"), metadata=admin),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(bad)) == {"name", "webhook_url", "required_role"}
    missing = await fails(bot.CreateBotCommand(admin_pb2.CreateBotCommandRequest(name="ask", action="prompt"),
                                               metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    assert violations(missing) == {"prompt_template": "is required for action prompt"}

    listed = await bot.ListBotCommands(admin_pb2.ListBotCommandsRequest(), metadata=admin)
    assert [c.name for c in listed.commands] == ["help", "translate"] and listed.total_size == 2
    only = await bot.ListBotCommands(admin_pb2.ListBotCommandsRequest(filter='action="prompt"'), metadata=admin)
    assert [c.name for c in only.commands] == ["translate"]

    # Switching to an action needs that action's field: refused whole, nothing written.
    await fails(bot.UpdateBotCommand(admin_pb2.UpdateBotCommandRequest(command_id=command.command_id,
                                                                       action="webhook"), metadata=admin),
                grpc.StatusCode.INVALID_ARGUMENT)
    changed = await bot.UpdateBotCommand(admin_pb2.UpdateBotCommandRequest(
        command_id=command.command_id, enabled=False, description="",
        update_mask=field_mask_pb2.FieldMask(paths=["enabled", "description"])), metadata=admin)
    assert (changed.command.enabled, changed.command.description, changed.command.action) == (False, "", "reply")
    disabled = await bot.ListBotCommands(admin_pb2.ListBotCommandsRequest(enabled=False), metadata=admin)
    assert [c.name for c in disabled.commands] == ["help"]
    await bot.DeleteBotCommand(admin_pb2.DeleteBotCommandRequest(command_id=command.command_id), metadata=admin)
    await fails(bot.DeleteBotCommand(admin_pb2.DeleteBotCommandRequest(command_id=command.command_id),
                                     metadata=admin), grpc.StatusCode.NOT_FOUND)
    await fails(bot.ListBotCommands(admin_pb2.ListBotCommandsRequest(), metadata=console.people["alice"].metadata),
                grpc.StatusCode.PERMISSION_DENIED)

    async def audited() -> list[admin_pb2.AuditEntry]:
        return list((await console.platform.ListAuditLog(admin_pb2.ListAuditLogRequest(
            resource_type="bot_command", resource_id=command.command_id), metadata=admin)).entries)

    trail = await eventually(audited, lambda found: len(found) == 5)
    assert sorted((e.method.rsplit("/", 1)[1], e.outcome, e.status_code) for e in trail) == [
        ("CreateBotCommand", "succeeded", "OK"), ("DeleteBotCommand", "failed", "NOT_FOUND"),
        ("DeleteBotCommand", "succeeded", "OK"), ("UpdateBotCommand", "failed", "INVALID_ARGUMENT"),
        ("UpdateBotCommand", "succeeded", "OK")]


async def test_bot_status_and_stats_follow_the_chat(console: Console) -> None:
    admin, alice = console.people["admin"].metadata, console.people["alice"]
    async with grpc.aio.insecure_channel(console.settings.address("speech")) as channel:
        chat = speech_pb2_grpc.ChatServiceStub(channel)
        first = await chat.Chat(speech_pb2.ChatRequest(content="hello"), metadata=alice.metadata)
        await chat.Chat(speech_pb2.ChatRequest(content="again", conversation_id=first.conversation_id),
                        metadata=alice.metadata)

    async def stats(**dates: str) -> admin_pb2.GetBotStatsResponse:
        return await console.bot.GetBotStats(admin_pb2.GetBotStatsRequest(**dates), metadata=admin)

    figures = await eventually(stats, lambda s: s.total_messages == 4)
    assert (figures.total_conversations, figures.text_messages, figures.audio_messages) == (1, 2, 0)
    assert figures.active_users == 1 and figures.error_count == 0 and figures.average_response_time > 0
    assert (await stats(start_date="2020-01-01", end_date="2020-12-31")).total_messages == 0
    bad = await fails(stats(start_date="yesterday"), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(bad)) == {"start_date"}
    await fails(stats(start_date="2030-01-02", end_date="2030-01-01"), grpc.StatusCode.INVALID_ARGUMENT)

    status = await console.bot.GetBotStatus(admin_pb2.GetBotStatusRequest(), metadata=admin)
    assert (status.status, status.healthy) == ("online", True) and set(status.dependencies) == {"stt", "tts", "llm"}
    assert status.active_sessions == 1 and status.connected_users == 1 and status.last_activity_at.seconds
    await console.stop("speech")
    down = await console.bot.GetBotStatus(admin_pb2.GetBotStatusRequest(), metadata=admin)
    assert (down.status, down.healthy) == ("offline", False)
    assert not down.dependencies["llm"].healthy and down.dependencies["llm"].message == "not reachable"
