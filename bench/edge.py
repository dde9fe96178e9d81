"""The edge against grpc-gateway: one run, one load generator, one core per server.

Rows (see bench/README.md): the AgentMesh edge (``python -m edge.front``, JWT
verification and rate limiting on) and grpc-gateway, both in front of the Go
echo backend that ``../shared/bench-anchors/build_grpc_gateway.sh`` builds
into /tmp; a raw aiohttp handler returning a constant body (the most aiohttp
does on one core); a direct grpc.aio client calling the backend with no HTTP,
and the same client through the edge's own HTTP/2 client (the upstream half
the edge actually pays). Every HTTP row gets the same ``wrk -t1 -cN GET /v1/echo/abc`` with the same
``Authorization: Bearer`` header; then one extra pair at concurrency 1 (edge,
direct client; grpc-gateway for context) gives the edge's added latency.

Layout (2+ cores): backend and wrk on cpu0, the server under test (or the
direct client) alone on cpu1, grpc-gateway with GOMAXPROCS=1. Each figure is
the median of ``--reps`` interleaved runs of ``--duration`` seconds. Every run
is bounded (wrk -d plus an outer timeout); only processes started here are
stopped. Results are printed, never written into the repository.

    python -m bench.edge --duration 5 --reps 1     # quick
    python -m bench edge                            # defaults: 10 s x 3 reps, about 5 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
ANCHORS = Path(os.environ.get("BENCH_ANCHORS", REPO.parent / "shared" / "bench-anchors"))
GOPATH_BIN = Path(os.environ.get("BENCH_GOGW_BIN", "/tmp/gogw/bin"))
GATEWAY = GOPATH_BIN / "echo-gateway"
BACKEND = GOPATH_BIN / "gobackend"
PATH = "/v1/echo/abc"
SECRET_ENV = "BENCH_EDGE_JWT_SECRET"
NEVER_REFUSED = 1_000_000_000  # per minute: rate limiting is on and decides, but never refuses
TARGETS = {"per_core": 0.5, "p99": 2.0, "added_p50_ms": 0.3}
ECHO_METHOD = "bench.v1.EchoService.Echo"

# A constant reply with the same bytes as the edge's answer to GET /v1/echo/abc (set at run time).
RAW_AIOHTTP = r"""
import sys
from aiohttp import web

body = sys.argv[2].encode()

async def constant(request):
    return web.Response(body=body, content_type="application/json")

if sys.argv[3] == "uvloop":
    import uvloop
    uvloop.install()
app = web.Application()
app.router.add_get("/v1/echo/{id}", constant)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

# N concurrent unary Echo calls over one channel, messages built from the descriptor set, through
# grpc.aio ("grpc") or the edge's own HTTP/2 client ("h2"); prints one JSON line with req/s,
# latency percentiles and this process's CPU share.
DIRECT_CLIENT = r"""
import asyncio, json, sys, time
import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

path, target, method_name = sys.argv[1], sys.argv[2], sys.argv[3]
concurrency, duration, warmup = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
transport = sys.argv[8]
pool = descriptor_pool.DescriptorPool()
with open(path, "rb") as f:
    for proto in descriptor_pb2.FileDescriptorSet.FromString(f.read()).file:
        pool.Add(proto)
method = pool.FindMethodByName(method_name)
request_type = message_factory.GetMessageClass(method.input_type)
reply_type = message_factory.GetMessageClass(method.output_type)
rpc = "/" + method.containing_service.full_name + "/" + method.name

async def calls(echo, request, until, latencies, errors):
    clock = time.perf_counter
    while clock() < until:
        started = clock()
        try:
            await echo(request, timeout=5)
        except grpc.aio.AioRpcError:
            errors.append(1)
            continue
        latencies.append(clock() - started)

async def measure(echo):
    request = request_type(id="abc")
    await echo(request, timeout=5)
    until = time.perf_counter() + warmup
    await asyncio.gather(*(calls(echo, request, until, [], []) for _ in range(concurrency)))
    latencies, errors = [], []
    cpu, started = time.process_time(), time.perf_counter()
    until = started + duration
    await asyncio.gather(*(calls(echo, request, until, latencies, errors) for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started, time.process_time() - cpu

async def run():
    if transport == "h2":
        from services.common.h2 import H2Channel, UnaryMethod
        own = H2Channel(target)
        try:
            latencies, errors, elapsed, cpu = await measure(UnaryMethod(own, rpc, reply_type.FromString))
        finally:
            own.close()
    else:
        async with grpc.aio.insecure_channel(target) as channel:
            echo = channel.unary_unary(rpc, request_serializer=request_type.SerializeToString,
                                       response_deserializer=reply_type.FromString)
            latencies, errors, elapsed, cpu = await measure(echo)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3 if latencies else float("nan")
    print(json.dumps({"rps": len(latencies) / elapsed, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
                      "errors": len(errors), "cpu": 100.0 * cpu / elapsed}))

if sys.argv[7] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(run())
"""


@dataclass
class Row:
    """One configuration's runs."""

    name: str
    concurrency: int
    runs: list[dict[str, float]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs) if self.runs else float("nan")


class Processes:
    """The servers this benchmark started, and only those."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop_all)
        process = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
        self.started.append((name, process, log))
        return process

    def log_tail(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop_all(self) -> None:
        for _, process, _ in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for _, process, log in reversed(self.started):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            log.close()
        self.started.clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


def _cpu_ticks(pid: int) -> int:
    """User + system clock ticks of a process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(token: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", token)
    if found is None:
        raise ValueError(f"wrk latency {token!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_wrk(out: str) -> dict[str, float]:
    """req/s, p50, p99 and error count from `wrk --latency` output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if rate is None or p50 is None or p99 is None:
        raise ValueError(f"unexpected wrk output:\n{out}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return {"rps": float(rate.group(1)), "p50_ms": _ms(p50.group(1)), "p99_ms": _ms(p99.group(1)), "errors": errors}


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.procs = Processes(workdir)
        pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
        self.load_cpu, self.server_cpu = ("0", "1") if pin else ("", "")
        self.loop = "uvloop" if not args.no_uvloop and importlib.util.find_spec("uvloop") else "asyncio"
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "generated")]))

    def pinned(self, cpu: str, argv: Sequence[str]) -> list[str]:
        return ["taskset", "-c", cpu, *argv] if cpu else list(argv)

    def wrk(self, url: str, connections: int, seconds: int, token: str) -> dict[str, float]:
        argv = self.pinned(
            self.load_cpu,
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
             "-H", f"Authorization: Bearer {token}", url],
        )
        out = subprocess.run(
            ["timeout", str(seconds + 20), *argv], capture_output=True, text=True, check=True
        ).stdout
        return parse_wrk(out)

    def measure(self, url: str, pid: int, backend: int, connections: int, token: str) -> dict[str, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        server0, backend0, started = _cpu_ticks(pid), _cpu_ticks(backend), time.monotonic()
        result = self.wrk(url, connections, self.args.duration, token)
        elapsed = time.monotonic() - started
        result["cpu"] = 100.0 * (_cpu_ticks(pid) - server0) / ticks / elapsed
        result["backend_cpu"] = 100.0 * (_cpu_ticks(backend) - backend0) / ticks / elapsed
        return result

    def direct(
        self, descriptors: Path, target: str, backend: int, concurrency: int, transport: str = "grpc"
    ) -> dict[str, float]:
        argv = self.pinned(self.server_cpu, [
            sys.executable, "-c", DIRECT_CLIENT, str(descriptors), target, ECHO_METHOD,
            str(concurrency), str(self.args.duration), "1", self.loop, transport,
        ])
        ticks = os.sysconf("SC_CLK_TCK")
        backend0, started = _cpu_ticks(backend), time.monotonic()
        out = subprocess.run(
            ["timeout", str(self.args.duration + 30), *argv], capture_output=True, text=True, check=True,
            env=self.env, cwd=REPO,
        ).stdout
        result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        result["backend_cpu"] = 100.0 * (_cpu_ticks(backend) - backend0) / ticks / (time.monotonic() - started)
        return result


def _ensure_wrk() -> str | None:
    """None when wrk is there (installing it when root and missing), else why it is not."""
    if shutil.which("wrk"):
        return None
    if os.geteuid() != 0:
        return "wrk is not installed and this is not root (apt-get install wrk, then run again)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            subprocess.run(argv, env=env, check=True, timeout=600, capture_output=True)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"wrk is missing and could not be installed ({exc})"
    return None if shutil.which("wrk") else "wrk is missing after apt-get install"


def _ensure_anchors() -> str | None:
    """None when the Go backend (and, if it builds, grpc-gateway) exist; builds them once into /tmp."""
    if BACKEND.exists() and GATEWAY.exists():
        return None
    script = ANCHORS / "build_grpc_gateway.sh"
    if not script.exists():
        return f"{script} not found (set BENCH_ANCHORS to the bench-anchors folder)"
    print(f"building grpc-gateway and the Go echo backend with {script} (about 20 s, more with apt) ...")
    env = dict(os.environ) if os.geteuid() == 0 else dict(os.environ, SKIP_APT="1")
    try:
        subprocess.run(["bash", str(script)], env=env, check=True, timeout=900, capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        print(f"anchor build failed: {exc}\n{detail.decode(errors='replace')[-1500:]}")
    return None if BACKEND.exists() else f"{BACKEND} is missing: the anchors' build did not produce it"


def _descriptor_set(out: Path) -> Path:
    from grpc_tools import protoc

    site = sysconfig.get_paths()["purelib"]  # google/api/annotations.proto (googleapis-common-protos)
    target = out / "echo.pb"
    args = [
        "protoc", f"-I{ANCHORS / 'proto'}", f"-I{Path(protoc.__file__).parent / '_proto'}", f"-I{site}",
        "--include_imports", f"--descriptor_set_out={target}", "echo.proto",
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc could not compile the anchors' echo.proto")
    return target


def _token(secret: str) -> str:
    from services.common.settings import Settings
    from services.common.tokens import Keys, TokenIssuer

    return TokenIssuer(Keys.hmac("HS256", secret), Settings()).issue(typ="access", sub="bench", lifetime=86400)[0]


@contextlib.contextmanager
def _terminated_on_sigterm() -> Iterator[None]:
    """A SIGTERM unwinds like Ctrl-C, so the servers started here are stopped."""

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions; medians are shown")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk per server before measuring")
    parser.add_argument("--conns", type=int, default=32, help="wrk connections / direct-client concurrency")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--no-uvloop", action="store_true", help="asyncio's loop for the Python rows")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(list(argv) if argv is not None else [])
    for why in (_ensure_wrk(), _ensure_anchors()):
        if why is not None:
            print(f"bench edge skipped: {why}")
            return 0
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp, _terminated_on_sigterm():
        bench = Bench(args, Path(tmp))
        try:
            return _run(bench)
        except KeyboardInterrupt:
            print("bench edge interrupted; servers stopped")
            return 1
        except (subprocess.SubprocessError, ValueError, RuntimeError) as exc:
            detail = getattr(exc, "stderr", "") or ""
            print(f"bench edge failed: {exc}\n{str(detail)[-1500:]}")
            return 1
        finally:
            bench.procs.stop_all()


def _run(bench: Bench) -> int:
    args = bench.args
    descriptors = _descriptor_set(bench.workdir)
    secret = os.urandom(32).hex()
    token = _token(secret)
    auth = {"Authorization": f"Bearer {token}"}
    ports = {name: _free_port() for name in ("backend", "edge", "grpc-gateway", "raw-aiohttp")}
    backend_address = f"127.0.0.1:{ports['backend']}"

    backend = bench.procs.start(
        "backend", bench.pinned(bench.load_cpu, [str(BACKEND), "-listen", backend_address]), bench.env
    )
    if not _wait_port(ports["backend"], backend):
        print(f"bench edge: the Go backend did not start\n{bench.procs.log_tail('backend')}")
        return 1
    edge_argv = [
        sys.executable, "-m", "edge.front", "--descriptor-set", str(descriptors), "--upstream", f"*={backend_address}",
        "--port", str(ports["edge"]), "--jwt-secret-env", SECRET_ENV, "--rate-limit", f"{NEVER_REFUSED}/min",
        "--log-level", "WARNING", *(["--uvloop"] if bench.loop == "uvloop" else []),
    ]
    servers = {"edge": bench.procs.start("edge", bench.pinned(bench.server_cpu, edge_argv),
                                         dict(bench.env, **{SECRET_ENV: secret}))}
    if GATEWAY.exists():
        gateway_argv = [str(GATEWAY), "-listen", f"127.0.0.1:{ports['grpc-gateway']}", "-backend", backend_address]
        servers["grpc-gateway"] = bench.procs.start(
            "grpc-gateway", bench.pinned(bench.server_cpu, gateway_argv), dict(bench.env, GOMAXPROCS="1")
        )
    else:
        print(f"NOTE: {GATEWAY} missing; the grpc-gateway row is skipped")

    urls = {name: f"http://127.0.0.1:{ports[name]}{PATH}" for name in ("edge", "grpc-gateway", "raw-aiohttp")}
    if not _wait_port(ports["edge"], servers["edge"]):
        print(f"bench edge: the edge did not start\n{bench.procs.log_tail('edge')}")
        return 1
    status, headers, body = _get(urls["edge"], auth)
    refused, _, _ = _get(urls["edge"], {})
    if status != 200 or json.loads(body).get("id") != "abc" or refused != 401 or "X-RateLimit-Limit" not in headers:
        print(f"bench edge: the edge answers wrongly ({status}, {body!r}; {refused} without a token)")
        return 1
    raw_argv = [sys.executable, "-c", RAW_AIOHTTP, str(ports["raw-aiohttp"]), body.decode(), bench.loop]
    servers["raw-aiohttp"] = bench.procs.start("raw-aiohttp", bench.pinned(bench.server_cpu, raw_argv), bench.env)
    for name, process in servers.items():
        if not _wait_port(ports[name], process):
            print(f"bench edge: {name} did not start\n{bench.procs.log_tail(name)}")
            return 1
        status, _, answer = _get(urls[name], auth)
        if status != 200 or json.loads(answer).get("id") != "abc":
            print(f"bench edge: {name} answers {status} {answer!r}")
            return 1
        bench.wrk(urls[name], args.conns, args.warmup, token)

    c, rows = args.conns, {}
    for name in servers:
        rows[name] = Row(name, c)
    rows["direct-grpc"] = Row("direct-grpc", c)
    rows["direct-h2"] = Row("direct-h2", c)
    low = {"edge": Row("edge", 1), "direct-grpc": Row("direct-grpc", 1)}
    if "grpc-gateway" in servers:
        low["grpc-gateway"] = Row("grpc-gateway", 1)
    total = args.reps * (len(rows) + len(low)) * args.duration
    print(f"measuring: {args.reps} rep(s) x {len(rows) + len(low)} runs x {args.duration} s (about {total} s)")
    for rep in range(args.reps):
        for name, process in servers.items():
            rows[name].runs.append(bench.measure(urls[name], process.pid, backend.pid, c, token))
        rows["direct-grpc"].runs.append(bench.direct(descriptors, backend_address, backend.pid, c))
        rows["direct-h2"].runs.append(bench.direct(descriptors, backend_address, backend.pid, c, "h2"))
        for name in low:
            if name == "direct-grpc":
                low[name].runs.append(bench.direct(descriptors, backend_address, backend.pid, 1))
            else:
                low[name].runs.append(bench.measure(urls[name], servers[name].pid, backend.pid, 1, token))
        print(f"rep {rep + 1}/{args.reps} done", flush=True)
    print(_report(bench, [*rows.values(), *low.values()]))
    return 0


def per_core(row: Row) -> float:
    """req/s divided by the share of a core the server (or client) used: the median over runs."""
    return statistics.median(r["rps"] * 100.0 / max(r["cpu"], 1e-9) for r in row.runs)


def _report(bench: Bench, rows: list[Row]) -> str:
    args = bench.args
    layout = (
        f"backend and wrk on cpu{bench.load_cpu}, each server and the direct client on cpu{bench.server_cpu}"
        if bench.server_cpu else "unpinned"
    )
    lines = [
        f"bench edge {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: wrk -t1 -c{args.conns} "
        f"-d{args.duration}s --latency GET {PATH} with a bearer JWT; medians of {args.reps} interleaved run(s); "
        f"{layout}; Python loop: {bench.loop}; Go echo backend",
        "",
        "| row | conc | req/s | p50 ms | p99 ms | server CPU % | backend CPU % | req/s per server core | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    found: dict[tuple[str, int], Row] = {}
    for row in rows:
        found[(row.name, row.concurrency)] = row
        errors = int(sum(r["errors"] for r in row.runs))
        lines.append(
            f"| {row.name} | {row.concurrency} | {row.median('rps'):.0f} | {row.median('p50_ms'):.3f} | "
            f"{row.median('p99_ms'):.2f} | {row.median('cpu'):.0f} | {row.median('backend_cpu'):.0f} | "
            f"{per_core(row):.0f} | {errors} |"
        )

    def verdict(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    edge, gateway = found[("edge", args.conns)], found.get(("grpc-gateway", args.conns))
    raw = found.get(("raw-aiohttp", args.conns))
    lines += ["", "ratios (targets from issue 4):"]
    if gateway is not None:
        ratio = per_core(edge) / per_core(gateway)
        p99 = edge.median("p99_ms") / gateway.median("p99_ms")
        lines.append(
            f"- edge / grpc-gateway, req/s per server core: {ratio:.2f} "
            f"(target >= {TARGETS['per_core']:.2f}: {verdict(ratio >= TARGETS['per_core'])}); "
            f"plain req/s: {edge.median('rps') / gateway.median('rps'):.2f}"
        )
        lines.append(f"- edge p99 / grpc-gateway p99: {p99:.2f} (target <= {TARGETS['p99']:.1f}: "
                     f"{verdict(p99 <= TARGETS['p99'])})")
    added = found[("edge", 1)].median("p50_ms") - found[("direct-grpc", 1)].median("p50_ms")
    lines.append(f"- added p50 over the direct call at concurrency 1: {added:.3f} ms "
                 f"(target <= {TARGETS['added_p50_ms']:.1f} ms: {verdict(added <= TARGETS['added_p50_ms'])})")
    if raw is not None:
        lines.append(f"- edge / raw aiohttp, req/s: {edge.median('rps') / raw.median('rps'):.2f} (no target)")
        own = found.get(("direct-h2", args.conns))
        if own is not None:
            ceiling = 1.0 / (1.0 / per_core(raw) + 1.0 / per_core(own))
            lines.append(
                f"- an edge that cost only aiohttp plus its HTTP/2 client, 1/(1/raw + 1/direct-h2): "
                f"{ceiling:.0f} req/s per core; the edge reaches {per_core(edge) / ceiling:.2f} of it (no target)"
            )
    lines += ["", "versions: " + _versions()]
    return "\n".join(lines)


def _versions() -> str:
    import importlib.metadata as metadata
    import platform

    found = [f"python {platform.python_version()}"]
    for name in ("grpcio", "protobuf", "aiohttp", "uvloop", "orjson"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    with contextlib.suppress(OSError, IndexError, subprocess.SubprocessError):
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        found.append((out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0])
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        version = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "golang-grpc-gateway"], capture_output=True, text=True, timeout=10
        ).stdout
        if version:
            found.append(f"grpc-gateway {version}")
    return ", ".join(found)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
