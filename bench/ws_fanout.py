"""WebSocket fan-out: N subscribers on the edge's seed-002 event socket against a raw aiohttp broadcast.

Rows (see bench/README.md): ``edge`` is ``python -m edge`` in front of real
auth and admin units (subprocesses started here); N sockets on ``/api/v1/ws``,
signed in as a few users of one tenant, subscribe to ``system.bench.*`` and receive
events published through the admin unit's ``EventService.PublishEvent`` under a
service token. ``raw-aiohttp`` is a minimal aiohttp app that keeps its sockets
in a set and sends every published message to each of them. Both rows use the
same client code (``--client-procs`` worker processes, one event loop each)
and the same fixed-rate publisher, which stamps every event with
``time.time()`` so a subscriber knows its delivery latency.

Per row: server RSS per idle socket, then latency p50/p99, frames delivered per
second over all sockets, missed events and every process's CPU under
``--rate`` events/s for ``--seconds``. Only processes started here are
stopped; nothing is written to the repository.

    python -m bench.ws_fanout --subscribers 100 --seconds 3     # quick
    python -m bench ws_fanout                                    # defaults: 1,000 x 100/s x 10 s, about 1 minute
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import importlib.util
import json
import os
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson

from bench.edge import REPO, Processes, _cpu_ticks, _free_port, _terminated_on_sigterm, _wait_port

SUBSCRIBE = json.dumps({"type": "command", "event": "subscribe", "data": {"events": ["system.bench.*"]}, "id": "1"})
EVENT_TYPE = "system.bench.tick"  # published as the admin unit, whose types are system.*
PER_USER = 100  # sockets per signed-in user on the edge: the platform's default cap (WS_MAX_SOCKETS_PER_USER)
QUIET = 2.0  # seconds without a frame after the last publish that end the wait for late frames
TARGETS = {"p99_ms": 50.0, "rss_kb": 40.0, "delivered": 0.7}
TARGET_LOAD = (1000, 100.0)  # the p99 target is stated at 1,000 subscribers x 100 events/s
T = TypeVar("T")

# The reference: sockets in a set, each published message sent to every one of them.
RAW_BROADCAST = r"""
import itertools, json, sys
from datetime import datetime, timezone
from aiohttp import WSMsgType, web

sockets, ids = set(), itertools.count(1)
now = lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

async def subscriber(request):
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    sockets.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                command = json.loads(msg.data)
                await ws.send_str(json.dumps({"type": "response", "event": command.get("event"), "data": {
                    "events": (command.get("data") or {}).get("events", [])}, "id": command.get("id"),
                    "timestamp": now()}))
    finally:
        sockets.discard(ws)
    return ws

async def publish(request):
    event = await request.json()
    frame = json.dumps({"type": "event", "event": event["type"], "data": event["data"],
                        "id": str(next(ids)), "timestamp": now()})
    for ws in list(sockets):
        await ws.send_str(frame)
    return web.json_response({"sent": len(sockets)})

if sys.argv[2] == "uvloop":
    import uvloop
    uvloop.install()
app = web.Application()
app.router.add_get("/api/v1/ws", subscriber)
app.router.add_post("/publish", publish)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


# ------------------------------------------------------------------------------------------ the client


class Receiver:
    """What one worker's sockets received: latencies, counts, and which sequence numbers each socket saw."""

    def __init__(self, events: int) -> None:
        self.events = events
        self.latencies = array.array("d")
        self.frames = self.unique = self.primed = self.lagged = self.closed_early = 0
        self.last = 0.0

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        seen = bytearray(self.events)
        primed = False
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.time()
            frame = orjson.loads(msg.data)
            kind = frame.get("event")
            if kind != EVENT_TYPE or frame.get("type") != "event":
                if kind == "bus.lagged":  # the server dropped events for this socket, and says how many
                    self.lagged += int(frame.get("data", {}).get("dropped", 0))
                continue
            data = frame["data"]
            seq = int(data["seq"])
            if seq < 0:  # a probe: this socket's feed is live
                self.primed += not primed
                primed = True
                continue
            self.latencies.append(now - float(data["sent"]))
            self.frames += 1
            self.last = now
            if seq < self.events and not seen[seq]:
                seen[seq] = 1
                self.unique += 1
        self.closed_early += 1  # the server closed it (readers are cancelled, not ended, at the end)


async def _open(session: aiohttp.ClientSession, url: str, token: str) -> aiohttp.ClientWebSocketResponse:
    """A socket that has subscribed to system.bench.* and seen the subscription confirmed."""
    ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {token}"}, max_msg_size=0,
                                  timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0))
    await ws.send_str(SUBSCRIBE)
    async with asyncio.timeout(30):
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and orjson.loads(msg.data).get("type") == "response":
                return ws
    raise ConnectionError(f"the socket closed before confirming the subscription ({ws.close_code})")


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _worker(config: dict[str, Any]) -> None:
    """One event loop of subscribers, driven by the parent over stdin/stdout (one line each way)."""
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    receiver = Receiver(config["events"])
    tokens: list[str] = config["tokens"]
    gate = asyncio.Semaphore(64)

    async def one(n: int) -> aiohttp.ClientWebSocketResponse | str:
        async with gate:
            try:
                return await _open(session, config["url"], tokens[n % len(tokens)])
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                return f"{type(exc).__name__}: {exc}"

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        opened = await asyncio.gather(*(one(n) for n in range(config["count"])))
        sockets = [ws for ws in opened if not isinstance(ws, str)]
        failures = [why for why in opened if isinstance(why, str)]
        readers = [asyncio.create_task(receiver.read(ws)) for ws in sockets]
        _say({"ready": len(sockets), "failed": len(failures), "why": failures[:3]})
        cpu, started = time.process_time(), time.time()
        while (command := (await commands.readline()).decode().strip()) not in ("drain", ""):
            if command == "primed?":
                _say({"primed": receiver.primed})
            elif command == "start":
                cpu, started = time.process_time(), time.time()
        drained, expected = time.time(), len(sockets) * receiver.events
        while receiver.unique < expected and time.time() < drained + config["drain"]:
            if time.time() - max(receiver.last, drained) > QUIET:
                break
            await asyncio.sleep(0.05)
        cpu = time.process_time() - cpu
        await asyncio.to_thread(Path(config["latencies"]).write_bytes, receiver.latencies.tobytes())
        _say({"frames": receiver.frames, "unique": receiver.unique, "expected": expected, "cpu": cpu,
              "started": started, "last": receiver.last, "lagged": receiver.lagged,
              "closed_early": receiver.closed_early})
        for task in readers:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# ------------------------------------------------------------------------------------------ the run


@dataclass
class Target:
    """One server under test: where its sockets are, who may connect, how to publish to it."""

    name: str
    url: str
    pid: int
    tokens: list[str]
    publish: Callable[[dict[str, float]], Awaitable[None]]
    helpers: dict[str, int] = field(default_factory=dict)  # other processes whose CPU is reported


@dataclass
class Outcome:
    name: str
    subscribers: int = 0
    failed: int = 0
    rss_idle_kb: float = 0.0
    rss_after_kb: float = 0.0
    frames: int = 0
    unique: int = 0
    expected: int = 0
    window: float = 0.0
    latencies: list[float] = field(default_factory=list)
    publish_errors: int = 0
    load: float = 0.0  # the machine's 1-minute load average when the row started
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core, from the first publish to the drain's end
    server_cpu_s: float = 0.0
    closed_early: int = 0
    lagged: int = 0

    def pick(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(q * len(self.latencies)))] * 1e3

    @property
    def per_second(self) -> float:
        return self.frames / self.window if self.window > 0 else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Frames per second of server CPU: what one core would deliver, whatever else ran beside it."""
        return self.frames / self.server_cpu_s if self.server_cpu_s > 0 else 0.0


def rss_kb(pid: int) -> int:
    """VmRSS of a process, in kB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:", 1)[1].split()[0])


class Workers:
    """The client processes of one row: started, told what to do, read, and always stopped."""

    def __init__(self, bench: Bench, target: Target) -> None:
        self.bench, self.target = bench, target
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self) -> tuple[int, int, list[str]]:
        args, procs = self.bench.args, self.bench.args.client_procs
        for n in range(procs):
            count = args.subscribers // procs + (1 if n < args.subscribers % procs else 0)
            config = {"url": self.target.url, "tokens": self.target.tokens, "count": count,
                      "events": self.bench.events, "drain": args.drain,
                      "latencies": str(self.bench.workdir / f"{self.target.name}-{n}.lat")}
            config_path = self.bench.workdir / f"{self.target.name}-{n}.json"
            config_path.write_text(json.dumps(config))
            log = (self.bench.workdir / f"worker-{self.target.name}-{n}.log").open("wb")
            self.procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.ws_fanout", "--worker", str(config_path), "--loop", self.bench.loop,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=REPO,
                env=self.bench.env,
            ))
            log.close()
        replies = await self.ask_all(None, within=120)
        why = [w for r in replies for w in r["why"]]
        return sum(r["ready"] for r in replies), sum(r["failed"] for r in replies), why

    async def ask_all(self, command: str | None, within: float, *, answered: bool = True) -> list[dict[str, Any]]:
        """Send every worker the command (if any) and read each one's reply line (if one is expected)."""

        async def ask(proc: asyncio.subprocess.Process) -> dict[str, Any]:
            assert proc.stdin is not None
            assert proc.stdout is not None
            if command is not None:
                proc.stdin.write(f"{command}\n".encode())
                await proc.stdin.drain()
            if not answered:
                return {}
            line = await proc.stdout.readline()
            if not line:
                logs = sorted(self.bench.workdir.glob(f"worker-{self.target.name}-*.log"))
                tail = logs[0].read_text(errors="replace")[-1500:] if logs else ""
                raise RuntimeError(f"a client worker of {self.target.name} ended:\n{tail}")
            reply: dict[str, Any] = json.loads(line)
            return reply

        async with asyncio.timeout(within):
            return await asyncio.gather(*(ask(p) for p in self.procs))

    async def stop(self, *, kill: bool = False) -> None:
        """Workers end by themselves after the drain; any still running (or all, with kill) are killed."""
        for proc in self.procs:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0 if kill else 10):
                    await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.procs = Processes(workdir)
        self.events = int(args.rate * args.seconds)
        self.loop = "uvloop" if not args.no_uvloop and importlib.util.find_spec("uvloop") else "asyncio"
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "generated")]))

    async def measure(self, target: Target) -> Outcome:
        outcome = Outcome(target.name, load=os.getloadavg()[0])
        await _warm_up(target)
        before = rss_kb(target.pid)
        workers = Workers(self, target)
        try:
            outcome.subscribers, outcome.failed, why = await workers.start()
            if outcome.failed:
                print(f"{target.name}: {outcome.failed} socket(s) refused, e.g. {why[:2]}")
            if not outcome.subscribers:
                raise RuntimeError(f"{target.name}: no subscriber could connect: {why[:3]}")
            await asyncio.sleep(2.0)  # idle: connected, subscribed, nothing sent
            outcome.rss_idle_kb = (rss_kb(target.pid) - before) / outcome.subscribers
            await self._prime(target, workers, outcome.subscribers)
            pids = {"server": target.pid, **target.helpers}
            ticks = {name: _cpu_ticks(pid) for name, pid in pids.items()}
            await workers.ask_all("start", within=10, answered=False)
            started = time.time()
            publisher = RatePublisher(target.publish)
            await publisher.run(self.args.rate, self.events)
            replies = await workers.ask_all("drain", within=self.args.drain + 60)
            await publisher.settle()
            outcome.publish_errors = publisher.failed
            if publisher.failed:
                print(f"{target.name}: {publisher.failed} publish(es) failed, the first: {publisher.first_error}")
            elapsed = time.time() - started
            hz = os.sysconf("SC_CLK_TCK")
            outcome.cpu = {name: 100.0 * (_cpu_ticks(pid) - ticks[name]) / hz / elapsed for name, pid in pids.items()}
            outcome.server_cpu_s = outcome.cpu["server"] * elapsed / 100.0
            outcome.cpu["clients"] = 100.0 * sum(r["cpu"] for r in replies) / elapsed
            outcome.rss_after_kb = (rss_kb(target.pid) - before) / outcome.subscribers
        except BaseException:
            await workers.stop(kill=True)
            raise
        await workers.stop()
        for key in ("frames", "unique", "expected", "closed_early", "lagged"):
            setattr(outcome, key, sum(r[key] for r in replies))
        last = max(r["last"] for r in replies)
        outcome.window = max(last - min(r["started"] for r in replies), self.args.seconds)
        found = array.array("d")
        for n in range(len(replies)):
            found.frombytes((self.workdir / f"{target.name}-{n}.lat").read_bytes())
        outcome.latencies = sorted(found)
        return outcome

    async def _prime(self, target: Target, workers: Workers, subscribers: int) -> None:
        """Probe events until every socket has received one: each feed is live before the clock starts."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await target.publish({"seq": -1, "sent": time.time()})
            await asyncio.sleep(0.3)
            if sum(r["primed"] for r in await workers.ask_all("primed?", within=30)) >= subscribers:
                await asyncio.sleep(0.5)  # probes still in flight are ignored by the clients anyway
                return
        raise RuntimeError(f"{target.name}: not every subscriber received a probe event within 60 s")


async def _warm_up(target: Target) -> None:
    """One subscriber receives one event, so first-use costs are paid before the RSS baseline."""
    async with aiohttp.ClientSession() as session:
        ws = await _open(session, target.url, target.tokens[0])
        receiver = Receiver(1)
        reader = asyncio.create_task(receiver.read(ws))
        try:
            async with asyncio.timeout(30):
                while not receiver.primed:
                    await target.publish({"seq": -1, "sent": time.time()})
                    await asyncio.sleep(0.2)
        finally:
            reader.cancel()
            await ws.close()


class RatePublisher:
    """Events 0..n-1 at fixed times: each publish starts on schedule, whether or not earlier ones returned."""

    def __init__(self, publish: Callable[[dict[str, float]], Awaitable[None]]) -> None:
        self.publish = publish
        self.failed = 0
        self.first_error = ""
        self._pending: set[asyncio.Task[None]] = set()

    async def run(self, rate: float, events: int) -> None:
        """Returns once the last publish has started."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for seq in range(events):
            delay = start + seq / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(seq))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=30)

    async def _one(self, seq: int) -> None:
        try:
            await self.publish({"seq": float(seq), "sent": time.time()})
        except Exception as exc:  # counted and reported: a refused publish is a missed event for every socket
            self.failed += 1
            self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"[:200]


# ------------------------------------------------------------------------------------------ the servers


async def _sign_in(address: str, subscribers: int, per_user: int) -> tuple[str, list[str]]:
    """Tokens of a few users of one new tenant (an owner and members who switched to it): (tenant, tokens)."""
    from agentmesh.v1 import auth_pb2, auth_pb2_grpc

    from services.common.channels import insecure_channel

    users = max(1, -(-subscribers // per_user))
    tag, password = secrets.token_hex(4), secrets.token_urlsafe(16)
    async with insecure_channel(address) as channel:
        auth, orgs = auth_pb2_grpc.AuthServiceStub(channel), auth_pb2_grpc.OrganizationServiceStub(channel)
        owner = await auth.Register(auth_pb2.RegisterRequest(
            email=f"bench-owner-{tag}@example.com", password=password, organization_name=f"bench {tag}"), timeout=30)
        tenant, tokens = owner.user.tenant_id, [owner.access_token]
        for n in range(1, users):
            email = f"bench-{n}-{tag}@example.com"
            member = await auth.Register(auth_pb2.RegisterRequest(email=email, password=password), timeout=30)
            await orgs.AddMember(auth_pb2.AddMemberRequest(organization_id=tenant, email=email),
                                 metadata=[("authorization", f"Bearer {owner.access_token}")], timeout=30)
            switched = await orgs.SwitchOrganization(
                auth_pb2.SwitchOrganizationRequest(organization_id=tenant),
                metadata=[("authorization", f"Bearer {member.access_token}")], timeout=30)
            tokens.append(switched.access_token)
    return tenant, tokens


async def _platform(bench: Bench, stack: contextlib.AsyncExitStack) -> Target:
    """auth, admin and the edge as subprocesses; a publisher on the admin unit's EventService."""
    from agentmesh.v1 import admin_pb2, admin_pb2_grpc
    from agentmesh.v1.common_pb2 import Event

    from services.common.channels import insecure_channel
    from services.common.servicecreds import ServiceCredentials
    from services.common.settings import UNITS, Settings

    env = dict(bench.env, AGENTMESH_DATA_DIR=str(bench.workdir / "data"), JWT_SECRET=secrets.token_urlsafe(36),
               GATEWAY_PORT=str(_free_port()), AGENTMESH_SUPERVISED="1", LOG_LEVEL="WARNING",
               # Each upgrade counts one call of the default class: 1,000,000 a minute, the hour's 1,000 stays.
               RATE_LIMIT_DEFAULT="1000000",
               # Open sockets per user; a little above --per-user, as the warm-up socket's slot frees asynchronously.
               WS_MAX_SOCKETS_PER_USER=str(bench.args.per_user + 8))
    for unit in UNITS:
        env[f"AGENTMESH_{unit.upper()}_PORT"] = str(_free_port())
        env[f"AGENTMESH_{unit.upper()}_METRICS_PORT"] = str(_free_port())
    pids = {}

    async def start(name: str, module: str, port: str) -> None:
        process = bench.procs.start(name, [sys.executable, "-m", module], env)
        if not await asyncio.to_thread(_wait_port, int(port), process):
            raise RuntimeError(f"{name} did not start:\n{bench.procs.log_tail(name)}")
        pids[name] = process.pid

    await start("auth", "services.auth", env["AGENTMESH_AUTH_PORT"])
    await start("admin", "services.admin", env["AGENTMESH_ADMIN_PORT"])
    tenant, tokens = await _sign_in(f"127.0.0.1:{env['AGENTMESH_AUTH_PORT']}", bench.args.subscribers,
                                    bench.args.per_user)
    await start("edge", "edge", env["GATEWAY_PORT"])
    settings = Settings.from_env(env)
    auth_channel = insecure_channel(f"127.0.0.1:{env['AGENTMESH_AUTH_PORT']}")
    admin_channel = insecure_channel(f"127.0.0.1:{env['AGENTMESH_ADMIN_PORT']}")
    stack.push_async_callback(auth_channel.close)
    stack.push_async_callback(admin_channel.close)
    credentials = ServiceCredentials(auth_channel, settings, "admin")
    hub = admin_pb2_grpc.EventServiceStub(admin_channel)

    async def publish(data: dict[str, float]) -> None:
        event = Event(type=EVENT_TYPE, tenant_id=tenant)
        event.data.update(data)
        await hub.PublishEvent(admin_pb2.PublishEventRequest(event=event), metadata=await credentials.metadata(),
                               timeout=10)

    url = f"ws://127.0.0.1:{env['GATEWAY_PORT']}/api/v1/ws"
    return Target("edge", url, pids["edge"], tokens, publish, {"admin": pids["admin"]})


async def _raw(bench: Bench, stack: contextlib.AsyncExitStack) -> Target:
    port = _free_port()
    process = bench.procs.start("raw-aiohttp", [sys.executable, "-c", RAW_BROADCAST, str(port), bench.loop], bench.env)
    if not await asyncio.to_thread(_wait_port, port, process):
        raise RuntimeError(f"the raw aiohttp server did not start:\n{bench.procs.log_tail('raw-aiohttp')}")
    session = await stack.enter_async_context(aiohttp.ClientSession())

    async def publish(data: dict[str, float]) -> None:
        async with session.post(f"http://127.0.0.1:{port}/publish", json={"type": EVENT_TYPE, "data": data}) as reply:
            reply.raise_for_status()

    return Target("raw-aiohttp", f"ws://127.0.0.1:{port}/api/v1/ws", process.pid, ["unused"], publish)


async def _run(bench: Bench) -> int:
    args = bench.args
    async with contextlib.AsyncExitStack() as stack:
        targets = [await _raw(bench, stack), await _platform(bench, stack)]
        users = len(targets[1].tokens)
        print(f"measuring: {args.subscribers} subscribers ({users} user(s) of one tenant on the edge), "
              f"{args.rate:g} events/s for {args.seconds:g} s, {args.client_procs} client process(es)", flush=True)
        outcomes = []
        for target in targets:
            outcomes.append(await bench.measure(target))
            print(f"{target.name} done", flush=True)
    print(_report(bench, outcomes, users))
    return 0


# ------------------------------------------------------------------------------------------ the report


def _report(bench: Bench, outcomes: list[Outcome], users: int) -> str:
    args = bench.args
    lines = [
        f"bench ws_fanout {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {args.subscribers} subscribers "
        f"on /api/v1/ws (system.bench.*), {args.rate:g} events/s for {args.seconds:g} s, late frames counted up to "
        f"{args.drain:g} s after the last publish; {args.client_procs} client process(es); loop: {bench.loop}; "
        f"{os.cpu_count()} CPU(s), unpinned; the edge's sockets signed in as {users} user(s) of one tenant",
        "",
        "| row | sockets | refused | frames/s delivered | frames/s offered | p50 ms | p99 ms | missed | "
        "KB/idle socket | KB/socket after | server CPU % | frames per CPU-s | admin CPU % | clients CPU % | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        cpu = [f"{o.cpu[k]:.0f}" if k in o.cpu else "-" for k in ("server", "admin", "clients")]
        cpu.insert(1, f"{o.per_cpu_second:.0f}")
        lines.append(
            f"| {o.name} | {o.subscribers} | {o.failed} | {o.per_second:.0f} | {o.subscribers * args.rate:.0f} | "
            f"{o.pick(0.50):.1f} | {o.pick(0.99):.1f} | {o.expected - o.unique} | {o.rss_idle_kb:.1f} | "
            f"{o.rss_after_kb:.1f} | {' | '.join(cpu)} | {o.load:.1f} |"
        )
    raw, edge = outcomes

    def verdict(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    at = "" if (args.subscribers, args.rate) == TARGET_LOAD else (
        f", stated for 1,000 x 100/s, this run {args.subscribers:,} x {args.rate:g}/s")
    p99, delivered = edge.pick(0.99), edge.per_second / raw.per_second if raw.per_second else float("nan")
    missed = [f"{o.name} {o.expected - o.unique} of {o.expected} "
              f"({100.0 * (o.expected - o.unique) / max(o.expected, 1):.2f} %)" for o in outcomes]
    lines += [
        "",
        "ratios and targets (issue 5):",
        f"- edge p99 delivery: {p99:.1f} ms (target <= {TARGETS['p99_ms']:.0f} ms{at}: "
        f"{verdict(p99 <= TARGETS['p99_ms'])}); raw aiohttp p99 {raw.pick(0.99):.1f} ms, "
        f"edge / raw {p99 / raw.pick(0.99):.1f}",
        f"- edge RSS per idle socket: {edge.rss_idle_kb:.1f} KB (target <= {TARGETS['rss_kb']:.0f} KB: "
        f"{verdict(edge.rss_idle_kb <= TARGETS['rss_kb'])}); raw aiohttp {raw.rss_idle_kb:.1f} KB",
        f"- edge / raw aiohttp, frames/s delivered: {delivered:.2f} (target >= {TARGETS['delivered']:.2f}: "
        f"{verdict(delivered >= TARGETS['delivered'])}); per server CPU-second (no target, steadier on a busy "
        f"machine): {edge.per_cpu_second / raw.per_cpu_second if raw.per_cpu_second else float('nan'):.2f}",
        f"- missed: {'; '.join(missed)}; publishes refused: edge {edge.publish_errors}, raw {raw.publish_errors}",
    ]
    busy = [o.name for o in outcomes if o.cpu["clients"] >= 85.0 * args.client_procs]
    if busy:
        lines.append(f"- NOTE: the client process(es) used >= 85 % of their core(s) in {', '.join(busy)}: "
                     "those figures are bounded by the client too (try --client-procs)")
    if any(o.lagged for o in outcomes):
        lines.append("- events the server dropped for slow sockets (bus.lagged frames): "
                     + ", ".join(f"{o.name} {o.lagged}" for o in outcomes))
    if any(o.closed_early for o in outcomes):
        lines.append("- sockets closed by the server during the run: "
                     + ", ".join(f"{o.name} {o.closed_early}" for o in outcomes))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ entry points


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_fanout",
                                     description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--subscribers", type=int, default=1000, help="sockets per row")
    parser.add_argument("--rate", type=float, default=100.0, help="events published per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long events are published")
    parser.add_argument("--drain", type=float, default=10.0,
                        help="seconds after the last publish during which late frames still count")
    parser.add_argument("--client-procs", type=int, default=1, help="client processes (one event loop each)")
    parser.add_argument("--per-user", type=int, default=PER_USER,
                        help="edge sockets per signed-in user (the default class allows 1,000 calls an hour)")
    parser.add_argument("--no-uvloop", action="store_true", help="asyncio's loop for the servers and clients")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="asyncio", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.rate <= 0 or args.seconds <= 0 or args.drain < 0:
        parser.error("--subscribers, --rate and --seconds must be positive, --drain not negative")
    if not 1 <= args.client_procs <= args.subscribers or not 1 <= args.per_user <= 1000:
        parser.error("--client-procs must be 1..subscribers, --per-user 1..1000")
    return args


def _run_loop(main: Coroutine[Any, Any, T], loop: str) -> T:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(list(argv) if argv is not None else [])
    if args.worker:
        _run_loop(_worker(json.loads(Path(args.worker).read_text())), args.loop)
        return 0
    # Client workers are forked while this process holds gRPC channels; gRPC's fork handlers are not needed.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    needed = 2 * args.subscribers + 1024  # children inherit the limit: servers and clients hold an fd per socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, needed)), hard))
    if hard < needed:
        print(f"NOTE: the file-descriptor hard limit is {hard}; {needed} wanted, some sockets may be refused")
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp, _terminated_on_sigterm():
        bench = Bench(args, Path(tmp))
        try:
            return _run_loop(_run(bench), bench.loop)
        except KeyboardInterrupt:
            print("bench ws_fanout interrupted; servers stopped")
            return 1
        except Exception as exc:  # a failed run says why and stops what it started; it is not a test
            print(f"bench ws_fanout failed: {type(exc).__name__}: {exc}")
            return 1
        finally:
            bench.procs.stop_all()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
