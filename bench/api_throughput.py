"""Partner API throughput: authenticated GET and POST /v1/tenants against `trunkline serve`.

Sets up a throwaway SQLite database (one partner, 50 tenants, an API key whose limits are
raised so the run is not throttled), starts `trunkline serve` on a free loopback port,
drives load with `wrk` when it is installed (else a bounded Python client), stops the
server and prints requests/s and latency percentiles. Only 127.0.0.1 is ever contacted.

    .venv/bin/python bench/api_throughput.py [--duration 10] [--connections 16]
        [--server-workers 1] [--server-threads 2] [--client wrk|python] [--json out.json]

More than one server worker needs REDIS_URL (shared rate-limit counters), e.g.
`REDIS_URL=redis://127.0.0.1:6379/15 … --server-workers 2`. docs/performance.md has the
figures and how to read them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

HOST = "127.0.0.1"
TARGET_GET_RPS = 1000
TARGET_GET_P99_MS = 50.0
BENCH_RATE_LIMIT = 1_000_000  # requests a minute; far above anything a run can reach

console = Console(stderr=True)


@dataclass
class Result:
    scenario: str
    client: str
    connections: int
    duration_s: float
    requests: int
    errors: int  # transport errors and non-2xx answers
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    extra: dict = field(default_factory=dict)


# --- set-up -------------------------------------------------------------------------


def _trunkline_command() -> list[str]:
    script = Path(sys.executable).with_name("trunkline")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "trunkline.cli"]


def _cli(env: dict, *args: str) -> str:
    completed = subprocess.run(
        [*_trunkline_command(), *args], env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"trunkline {args[0]} failed:\n{completed.stderr}")
    return completed.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _bench_env(directory: Path) -> dict:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)  # always the throwaway SQLite file below
    env["TRUNKLINE_DB"] = str(directory / "bench.sqlite3")
    env["TRUNKLINE_VAR_DIR"] = str(directory / "var")
    env.setdefault("TRUNKLINE_LOG_LEVEL", "ERROR")
    return env


def prepare_database(env: dict, tenants: int) -> dict:
    """Migrate, create the partner, its tenants and a key; return what the run needs."""
    _cli(env, "migrate", "--quiet")
    partner = json.loads(
        _cli(
            env,
            "create-partner",
            "--name",
            "Bench Partner",
            "--email",
            "bench@example.com",
            "--password",
            "Bench-password-2026!",
        )
    )
    key = json.loads(
        _cli(
            env,
            "create-api-key",
            "--partner",
            partner["partner_id"],
            "--name",
            "bench",
            "--rate-limit",
            str(BENCH_RATE_LIMIT),
        )
    )
    _seed(env, partner["partner_id"], tenants)
    return {"partner_id": partner["partner_id"], "key": key["key"]}


def _seed(env: dict, partner_id: str, tenants: int) -> None:
    """Raise the partner-wide limit and create the tenants, through the ORM and services."""
    code = textwrap.dedent(
        """
        import sys

        import django

        django.setup()
        from trunkline.accounts.models import Partner
        from trunkline.core.actors import Actor
        from trunkline.tenants.services import tenant_create

        partner_id, count, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        Partner.objects.filter(id=partner_id).update(api_rate_limit=limit)
        partner = Partner.objects.get(id=partner_id)
        for number in range(1, count + 1):
            tenant_create(
                actor=Actor.system(partner=partner),
                name=f"Seed Tenant {number:03d}",
                billing_email=f"billing{number}@example.com",
                sip_prefix=f"seed{number:03d}",
                timezone_name="America/Chicago",
            )
        """
    )
    seed_env = {**env, "DJANGO_SETTINGS_MODULE": "trunkline.settings"}
    completed = subprocess.run(
        [sys.executable, "-c", code, partner_id, str(tenants), str(BENCH_RATE_LIMIT)],
        env=seed_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"seeding the benchmark database failed:\n{completed.stderr}")


# --- the server ---------------------------------------------------------------------


class Server:
    def __init__(self, env: dict, port: int, workers: int, threads: int, log_path: Path):
        self.env, self.port, self.workers, self.threads = env, port, workers, threads
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, key: str, timeout: float = 60.0) -> None:
        command = [
            *_trunkline_command(),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
        ]
        log = self.log_path.open("wb")
        # Its own session, so stopping it reaches granian's worker processes too.
        self.process = subprocess.Popen(
            command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SystemExit(f"trunkline serve exited:\n{self.log_path.read_text()}")
                try:
                    if client.get("/v1/tenants", params={"limit": 1}).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"trunkline serve was not ready in {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- load with wrk ------------------------------------------------------------------

_WRK_DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\\"requests\\": %d, \\"duration_us\\": %d, \\"connect\\": %d, "
    .. "\\"read\\": %d, \\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, "
    .. "\\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, \\"max_us\\": %d}\\n",
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""

_WRK_GET = """
wrk.headers["Authorization"] = "Bearer {key}"
"""

# Every POST names a new tenant with its own SIP prefix: run letter, thread, counter.
_WRK_POST = """
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end
counter = 0
request = function()
  counter = counter + 1
  local prefix = string.format("b{run}%dx%d", thread_number, counter)
  local body = string.format(
    '{{"name": "Bench Tenant %s", "sip_prefix": "%s", "billing_email": "ops@example.com"}}',
    prefix, prefix)
  return wrk.format(nil, nil, nil, body)
end
"""


def wrk_version() -> str:
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"wrk (\S+)", completed.stdout + completed.stderr)
    return f"wrk {match.group(1)}" if match else "wrk"


def run_wrk(
    *,
    scenario: str,
    url: str,
    script: str,
    connections: int,
    threads: int,
    duration: float,
    directory: Path,
) -> Result:
    script_path = directory / f"{scenario.replace(' ', '_').replace('/', '_')}.lua"
    script_path.write_text(script + _WRK_DONE)
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration))}s",
        "--timeout=5s",
        f"--script={script_path}",
        url,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    match = re.search(r"^BENCH_RESULT (\{.*\})$", completed.stdout, re.MULTILINE)
    if completed.returncode != 0 or match is None:
        raise SystemExit(f"wrk failed:\n{completed.stdout}\n{completed.stderr}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[name] for name in ("connect", "read", "write", "status", "timeout"))
    return Result(
        scenario=scenario,
        client=f"wrk -t{threads}",
        connections=connections,
        duration_s=round(seconds, 2),
        requests=raw["requests"],
        errors=errors,
        rps=round(raw["requests"] / seconds, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


# --- load with Python (when wrk is missing) -----------------------------------------


def _python_client(base_url, key, method, path, run, number, duration, results):
    """One closed-loop connection: request, wait for the answer, repeat until time is up."""
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    errors = 0
    counter = 0
    with httpx.Client(base_url=base_url, headers=headers, timeout=5.0) as client:
        started = time.perf_counter()
        deadline = started + duration
        while time.perf_counter() < deadline:
            counter += 1
            body = None
            if method == "POST":
                prefix = f"b{run}{number}x{counter}"
                body = {
                    "name": f"Bench Tenant {prefix}",
                    "sip_prefix": prefix,
                    "billing_email": "ops@example.com",
                }
            sent = time.perf_counter()
            try:
                response = client.request(method, path, json=body)
                if not 200 <= response.status_code < 300:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - sent)
        results.put((latencies, errors, time.perf_counter() - started))


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def run_python(
    *,
    scenario: str,
    base_url: str,
    key: str,
    method: str,
    path: str,
    run: str,
    connections: int,
    duration: float,
) -> Result:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    clients = [
        context.Process(
            target=_python_client,
            args=(base_url, key, method, path, run, number, duration, results),
        )
        for number in range(1, connections + 1)
    ]
    for client in clients:
        client.start()
    gathered = [results.get(timeout=duration + 60) for _ in clients]
    for client in clients:
        client.join(timeout=10)
    latencies = sorted(value for values, _, _ in gathered for value in values)
    errors = sum(count for _, count, _ in gathered)
    seconds = max(elapsed for _, _, elapsed in gathered)
    return Result(
        scenario=scenario,
        client="python/httpx",
        connections=connections,
        duration_s=round(seconds, 2),
        requests=len(latencies),
        errors=errors,
        rps=round(len(latencies) / seconds, 1),
        p50_ms=round(_percentile(latencies, 0.50) * 1000, 2),
        p90_ms=round(_percentile(latencies, 0.90) * 1000, 2),
        p99_ms=round(_percentile(latencies, 0.99) * 1000, 2),
        max_ms=round((latencies[-1] if latencies else 0.0) * 1000, 2),
    )


# --- CPU accounting -----------------------------------------------------------------
#
# On a shared machine the figures depend on what else runs. The run therefore records
# the CPU the server used per request (which other work barely changes) and how many
# cores other processes took while it ran.


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):
        return 100


def _process_tree_cpu(root: int) -> float:
    """CPU seconds used so far by `root` and its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0) for pid in tree) / _ticks_per_second()


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / _ticks_per_second()


def _own_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.available = Path("/proc/stat").exists()

    def __enter__(self) -> CpuMeter:
        if self.available:
            self.started = (
                time.monotonic(),
                _machine_busy(),
                _process_tree_cpu(self.server_pid),
                _own_children_cpu(),
            )
        return self

    def __exit__(self, *exc) -> None:
        if self.available:
            wall, busy, server, client = (
                time.monotonic(),
                _machine_busy(),
                _process_tree_cpu(self.server_pid),
                _own_children_cpu(),
            )
            self.wall = wall - self.started[0]
            self.server = server - self.started[2]
            self.client = client - self.started[3]
            self.other = max(0.0, busy - self.started[1] - self.server - self.client)

    def figures(self, requests: int) -> dict:
        if not self.available or not requests:
            return {}
        return {
            "server_cpu_ms_per_request": round(self.server * 1000 / requests, 3),
            "server_cores": round(self.server / self.wall, 2),
            "client_cores": round(self.client / self.wall, 2),
            "other_processes_cores": round(self.other / self.wall, 2),
        }


# --- reporting ----------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    memory_gib = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
        meminfo = Path("/proc/meminfo").read_text()
        total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
        memory_gib = round(int(total.group(1)) / 1024 / 1024, 1) if total else None
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def print_table(results: list[Result], header: str) -> None:
    table = Table(title=header)
    for column in ("scenario", "client", "conns", "requests", "errors", "req/s"):
        table.add_column(column, justify="left" if column in {"scenario", "client"} else "right")
    for column in ("p50 ms", "p90 ms", "p99 ms", "max ms", "srv CPU/req", "others"):
        table.add_column(column, justify="right")
    for result in results:
        cpu = result.extra.get("server_cpu_ms_per_request")
        others = result.extra.get("other_processes_cores")
        table.add_row(
            result.scenario,
            result.client,
            str(result.connections),
            f"{result.requests:,}",
            f"{result.errors:,}",
            f"{result.rps:,.0f}",
            f"{result.p50_ms:.1f}",
            f"{result.p90_ms:.1f}",
            f"{result.p99_ms:.1f}",
            f"{result.max_ms:.1f}",
            "-" if cpu is None else f"{cpu:.2f} ms",
            "-" if others is None else f"{others:.2f} cores",
        )
    Console(width=max(Console().width, 140)).print(table)


def count_rows(env: dict, partner_id: str) -> dict:
    code = textwrap.dedent(
        """
        import json, sys

        import django

        django.setup()
        from trunkline.accounts.models import ApiRequestLog
        from trunkline.tenants.models import Tenant

        partner_id = sys.argv[1]
        print(json.dumps({
            "tenants": Tenant.objects.filter(partner_id=partner_id).count(),
            "api_request_log": ApiRequestLog.objects.filter(partner_id=partner_id).count(),
        }))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, partner_id],
        env={**env, "DJANGO_SETTINGS_MODULE": "trunkline.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(completed.stdout) if completed.returncode == 0 else {}


# --- main ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--tenants", type=int, default=50, help="tenants the GET lists")
    parser.add_argument("--server-workers", type=int, default=None, help="serve --workers")
    parser.add_argument("--server-threads", type=int, default=None, help="serve --threads")
    parser.add_argument(
        "--client", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument(
        "--scenarios", default="get,post", help="comma-separated: get, post (default both)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 120:
        parser.error("--duration is 1 to 120 seconds")
    if not 1 <= args.connections <= 256:
        parser.error("--connections is 1 to 256")
    if not 1 <= args.wrk_threads <= 9:
        parser.error("--wrk-threads is 1 to 9")
    if args.client == "python" and args.connections > 32:
        parser.error("the Python client runs one process per connection: at most 32")
    if args.tenants < 1:
        parser.error("--tenants is at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    if client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if (args.server_workers or 1) > 1 and not os.environ.get("REDIS_URL"):
        raise SystemExit("--server-workers above 1 needs REDIS_URL (shared rate-limit counters)")
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    if load > 0.5:
        console.print(
            f"[yellow]The 1-minute load average is {load:.2f}: other work will lower the "
            "figures (see the 'others' column).[/yellow]"
        )

    with tempfile.TemporaryDirectory(prefix="trunkline-bench-") as tmp:
        directory = Path(tmp)
        env = _bench_env(directory)
        console.print(f"Preparing a throwaway database with {args.tenants} tenants…")
        prepared = prepare_database(env, args.tenants)
        key = prepared["key"]
        serve_args = _serve_defaults(args)
        server = Server(env, _free_port(), *serve_args, directory / "serve.log")
        console.print(
            f"Starting trunkline serve on {HOST}:{server.port} "
            f"(workers={serve_args[0]}, threads={serve_args[1]})…"
        )
        server.start(key)
        results: list[Result] = []
        try:
            check = httpx.get(
                f"{server.base_url}/v1/tenants",
                headers={"Authorization": f"Bearer {key}"},
                timeout=5.0,
            )
            listed = len(check.json()["data"])
            if check.status_code != 200 or listed != min(args.tenants, 50):
                raise SystemExit(f"GET /v1/tenants answered {check.status_code}, {listed} rows")
            for name in scenarios:
                results.append(_run_scenario(name, args, client, server, key, directory))
        finally:
            server.stop()
        rows = count_rows(env, prepared["partner_id"])

    info = machine()
    header = (
        f"Trunkline API throughput — {info['cpus']} × {info['cpu_model']}, "
        f"{info['memory_gib']} GiB, {datetime.now(UTC):%Y-%m-%d}"
    )
    print_table(results, header)
    get = next((result for result in results if result.scenario.startswith("GET")), None)
    verdict = None
    if get is not None:
        verdict = get.rps >= TARGET_GET_RPS and get.p99_ms < TARGET_GET_P99_MS and not get.errors
        console.print(
            f"GET target (≥{TARGET_GET_RPS:,} req/s, p99 < {TARGET_GET_P99_MS:.0f} ms, no "
            f"errors): {'met' if verdict else 'NOT met'}"
        )
    if rows:
        console.print(
            f"Rows after the run: {rows['tenants']:,} tenants, "
            f"{rows['api_request_log']:,} API request-log entries"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": info,
                    "server": {
                        "workers": serve_args[0],
                        "threads": serve_args[1],
                        "rate_limit_storage": "redis" if env.get("REDIS_URL") else "memory",
                    },
                    "client": wrk_version() if client == "wrk" else "python/httpx",
                    "tenants": args.tenants,
                    "target_met": verdict,
                    "rows_after": rows,
                    "results": [asdict(result) for result in results],
                },
                indent=2,
            )
            + "\n"
        )
    return 0


def _serve_defaults(args: argparse.Namespace) -> tuple[int, int]:
    from trunkline.cli import build_parser

    defaults = build_parser().parse_args(["serve"])
    workers = args.server_workers if args.server_workers is not None else defaults.workers
    threads = args.server_threads if args.server_threads is not None else defaults.threads
    return workers, threads


def _run_scenario(
    name: str, args: argparse.Namespace, client: str, server: Server, key: str, directory: Path
) -> Result:
    if name not in {"get", "post"}:
        raise SystemExit(f"unknown scenario {name!r}")
    method = "GET" if name == "get" else "POST"
    scenario = f"{method} /v1/tenants"
    url = f"{server.base_url}/v1/tenants"
    runs = [("w", args.warmup), ("m", args.duration)] if args.warmup > 0 else [("m", args.duration)]
    result = None
    for run, seconds in runs:
        # The run letter keeps warm-up and measured POSTs from reusing a SIP prefix.
        run_id = f"{run}{'g' if method == 'GET' else 'p'}"
        label = "warming up" if run == "w" else "measuring"
        console.print(f"{scenario}: {label} for {seconds:g}s with {args.connections} connections")
        with CpuMeter(server.process.pid) as meter:
            if client == "wrk":
                script = (_WRK_GET if method == "GET" else _WRK_POST).format(key=key, run=run_id)
                result = run_wrk(
                    scenario=scenario,
                    url=url,
                    script=script,
                    connections=args.connections,
                    threads=args.wrk_threads,
                    duration=seconds,
                    directory=directory,
                )
            else:
                result = run_python(
                    scenario=scenario,
                    base_url=server.base_url,
                    key=key,
                    method=method,
                    path="/v1/tenants",
                    run=run_id,
                    connections=args.connections,
                    duration=seconds,
                )
    assert result is not None
    result.extra.update(meter.figures(result.requests))
    return result


if __name__ == "__main__":
    sys.exit(main())
