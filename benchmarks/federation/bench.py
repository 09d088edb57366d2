"""Releases per second from one Alianza node to another, against a bare HTTP client posting the same bytes.

Two real nodes (``alianza init`` + ``alianza serve``, SQLite, loopback only) are paired as an operator would pair
them. N single-record releases are written into the sender's outbox while its server is stopped (not timed);
the clock starts when the sender's server, and with it the courier, is up, and stops when the receiver has
applied the N-th envelope (its ``inbound_seq`` for the sender, read from its database). Then, in the same run,
the very same envelopes (built as the courier builds them: sealed to the receiver, signed with the sender's key,
in batches of the same size) are posted by a plain ``httpx`` client to a bare Starlette endpoint on the same
Uvicorn that only reads the body. ``ratio_vs_bare_http`` = releases_per_s / bare_http_per_s: the share of the raw
HTTP rate the federation path keeps after verifying, storing, auditing and acknowledging every envelope.

Usage: ``python benchmarks/federation/bench.py [--records N] [--quick] [--batch B] [--output PATH]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "federation.json"
QUICK_OUTPUT = ROOT / "benchmarks" / "results" / "federation-quick.json"
ALIANZA = [sys.executable, "-m", "alianza.cli.main"]
BARE_SERVER = Path(__file__).resolve().with_name("bare_server.py")
INBOX_PATH = "/federation/v1/inbox"
SENDER, RECEIVER = "mx-node", "us-node"
STARTUP_SECONDS = 90.0
ENQUEUE_CHUNK = 2000
POLL_SECONDS = 0.1
PASSWORD = "bench-admin-password"  # noqa: S105 (a throw-away node on loopback, deleted after the run)


@dataclass
class Node:
    name: str
    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.directory / "alianza.toml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.directory / "alianza.db"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str) -> str:
    env = os.environ | {"ALIANZA_ADMIN_PASSWORD": PASSWORD}
    done = subprocess.run([*ALIANZA, *args], capture_output=True, text=True, env=env, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"alianza {' '.join(args[:2])} failed: {done.stderr or done.stdout}")
    return done.stdout


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not answer in {STARTUP_SECONDS:.0f}s")


def serve(node: Node) -> None:
    log = node.directory / "serve.log"
    node.process = subprocess.Popen(
        [*ALIANZA, "serve", "--config", str(node.config), "--host", "127.0.0.1", "--port", str(node.port)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=os.environ | node.env,
    )
    wait_http(f"{node.url}/login", node.process, log)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def memory_mib(pid: int) -> dict[str, float]:
    """Peak (VmHWM) and current (VmRSS) resident memory of a process, in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def inbound_seq(db: Path, sender: str) -> int:
    """The receiver's count of applied envelopes from ``sender``, read without ever writing its database."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        row = conn.execute("SELECT inbound_seq FROM partners WHERE name = ?", (sender,)).fetchone()
    return int(row[0]) if row else 0


def release_payload(n: int) -> dict[str, Any]:
    """What ``releases.service.review`` queues for an approved single-record release (shape of ``to_ftm``)."""
    entity = {
        "id": f"bench-{n:07d}",
        "schema": "Person",
        "properties": {"name": [f"Persona Ficticia {n}"], "nationality": ["mx"]},
        "alianza:markings": {
            "origin_agency": "mx_fgr",
            "tlp": "AMBER",
            "handling": "H0",
            "source_reliability": "B",
            "info_accuracy": "2",
            "legal_basis": "mx_cnpp",
            "purpose": "criminal_investigation",
            "criminal_predicate": "FED/BENCH/001/2025",
            "sensitive_categories": [],
            "sensitive_tied_to_crime": False,
            "personal_data": True,
            "us_person": False,
            "retention_review": "2030-12-31",
            "origin_country": "MX",
            "partner": None,
        },
        "alianza:redacted": [],
    }
    return {
        "release_id": n,
        "recipient_agency": "us_dea",
        "purpose": "criminal_investigation",
        "legal_basis": "criminal_investigation",
        "entities": [entity],
    }


def enqueue_releases(config: Path, count: int) -> None:
    """Write the releases into the sender's outbox through the outbox API, a transaction per chunk."""
    from alianza.federation.outbox import enqueue
    from alianza.node import open_node

    node = open_node(config)
    try:
        for start in range(1, count + 1, ENQUEUE_CHUNK):
            with node.db.transaction() as session:
                for n in range(start, min(start + ENQUEUE_CHUNK, count + 1)):
                    enqueue(session, RECEIVER, "release", n, release_payload(n))
    finally:
        node.close()


def pair(a: Node, b: Node) -> dict[str, dict[str, str]]:
    infos = {n.name: json.loads(cli("keys", "show", "--json", "--config", str(n.config))) for n in (a, b)}
    for me, other in ((a, b), (b, a)):
        info = infos[other.name]
        cli(
            "partner",
            "add",
            info["node"],
            "--url",
            other.url,
            "--key",
            info["key"],
            "--country",
            info["country"],
            "--seal-key",
            info["seal_key"],
            "--config",
            str(me.config),
        )
    return infos


def envelope_bodies(sender_dir: Path, seal_key: str, count: int, batch: int) -> list[bytes]:
    """The batches the courier posts, byte for byte in form: sealed, signed, serialised like httpx ``json=``."""
    from alianza.federation import envelope as env
    from alianza.identity import load_or_create

    identity = load_or_create(sender_dir)
    bodies = []
    for start in range(1, count + 1, batch):
        envelopes = [
            env.make(
                identity,
                sender=SENDER,
                recipient=RECEIVER,
                type="release",
                sequence=n,
                payload=env.seal(release_payload(n), seal_key),
                envelope_id=uuid.uuid4().hex,
            ).to_json()
            for n in range(start, min(start + batch, count + 1))
        ]
        body = json.dumps({"envelopes": envelopes}, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        bodies.append(body.encode("utf-8"))
    return bodies


def py_spy() -> str | None:
    return (
        os.environ.get("PY_SPY")
        or shutil.which("py-spy")
        or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    )


@contextlib.contextmanager
def profiling(pids: dict[str, int], seconds: int, out_dir: Path) -> Iterator[dict[str, Path]]:
    """Sample each process with py-spy for ``seconds`` (raw collapsed stacks), when py-spy is available."""
    tool = py_spy()
    outputs: dict[str, Path] = {}
    procs = []
    if tool and seconds > 0:
        for name, pid in pids.items():
            outputs[name] = out_dir / f"profile-{name}.txt"
            cmd = [tool, "record", "--pid", str(pid), "-d", str(seconds), "-r", "50", "--format", "raw", "--idle"]
            procs.append(
                subprocess.Popen(
                    [*cmd, "-o", str(outputs[name]), "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    elif seconds > 0:
        print("py-spy not found (set PY_SPY=/path/to/py-spy); no profile taken", file=sys.stderr)
    try:
        yield outputs
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


#: Where each node's federation work runs (the courier's and the inbox's module): the profile is read as shares
#: of the wall time spent from the first frame in that module down.
WORK = {"sender": "federation/delivery.py", "receiver": "federation/inbox.py"}


def top_frames(raw: Path, root: str, limit: int = 12) -> dict[str, Any]:
    """Where the wall time of one node's federation work goes, from py-spy's collapsed stacks (``--idle``, so a
    thread waiting for the disk or for the partner counts): self and inclusive shares of the samples under
    ``root``, and how many samples that was."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not count_text.isdigit() or not any(root in f for f in frames):
            continue
        count = int(count_text)
        frames = frames[next(i for i, f in enumerate(frames) if root in f) :]
        frames = [f.split(":")[0] + ")" if ":" in f else f for f in frames]  # a function, not a line
        total += count
        own[frames[-1]] += count
        for frame in set(frames[1:]):
            inclusive[frame] += count
    share = (lambda c: round(100 * c / total, 1)) if total else (lambda c: 0.0)
    return {
        "samples": total,
        "self": [(f, share(c)) for f, c in own.most_common(limit)],
        "inclusive": [(f, share(c)) for f, c in inclusive.most_common(limit * 2)],
    }


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    memory = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    return {
        # Other work on the machine competes for the same cores: the load average says how much there was.
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": "sqlite",
    }


def run_nodes(
    base: Path, records: int, batch: int, timeout: float, profile_seconds: int, profile_from: int = 0
) -> tuple[dict[str, Any], dict[str, str]]:
    common = {"ALIANZA_FEDERATION_BATCH": str(batch)}
    sender = Node(SENDER, base / "mx", free_port(), env=common)
    receiver = Node(RECEIVER, base / "us", free_port(), env=common)
    for node, country in ((sender, "MX"), (receiver, "US")):
        cli("init", "--dir", str(node.directory), "--country", country, "--name", f"Bench {country}")
    infos = pair(sender, receiver)
    try:
        serve(receiver)
        began = time.monotonic()
        enqueue_releases(sender.config, records)
        enqueue_seconds = time.monotonic() - began
        print(f"enqueued {records} releases at the sender in {enqueue_seconds:.1f}s (not timed)", flush=True)

        serve(sender)  # the courier starts inside the server's lifespan, before the port answers
        assert sender.process is not None and receiver.process is not None
        t0, n0 = time.monotonic(), inbound_seq(receiver.db, SENDER)
        deadline, state = t0 + timeout, {"seen": n0, "printed": t0}
        progress: list[tuple[float, int]] = [(0.0, n0)]

        def wait_until(target: int) -> None:
            """Poll the receiver (bounded by the deadline) until it applied ``target``; note the progress."""
            while state["seen"] < target:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {state['seen']} of {records} releases arrived within {timeout:.0f}s")
                for proc in (sender.process, receiver.process):
                    if proc is None or proc.poll() is not None:
                        raise RuntimeError("a node exited during the run; see serve.log in " + str(base))
                time.sleep(POLL_SECONDS)
                with contextlib.suppress(sqlite3.OperationalError):
                    state["seen"] = inbound_seq(receiver.db, SENDER)
                if time.monotonic() - state["printed"] >= 10:
                    state["printed"] = now = time.monotonic()
                    progress.append((round(now - t0, 1), int(state["seen"])))
                    rate = (state["seen"] - n0) / (now - t0)
                    print(f"  {state['seen']:>7}/{records} applied, {rate:,.0f}/s so far", flush=True)

        wait_until(min(profile_from, records))
        pids = {"sender": sender.process.pid, "receiver": receiver.process.pid}
        with profiling(pids, profile_seconds, base) as profiles:
            wait_until(records)
            seconds = time.monotonic() - t0
            progress.append((round(seconds, 1), records))
            memory = {"sender": memory_mib(sender.process.pid), "receiver": memory_mib(receiver.process.pid)}
        profile = {name: top_frames(path, WORK[name]) for name, path in profiles.items() if path.exists()}
    finally:
        stop(sender.process)
        stop(receiver.process)
    with contextlib.closing(sqlite3.connect(f"file:{receiver.db}?mode=ro", uri=True)) as conn:
        (stored,) = conn.execute(
            "SELECT count(*) FROM inbox WHERE sender = ? AND type = 'release'", (SENDER,)
        ).fetchone()
    if stored != records:
        raise RuntimeError(f"the receiver stored {stored} releases, expected {records}")
    result = {
        "releases_per_s": round((records - n0) / seconds, 1),
        "seconds": round(seconds, 2),
        "enqueue_seconds": round(enqueue_seconds, 1),
        "sender_peak_mib": memory["sender"]["VmHWM"],
        "receiver_peak_mib": memory["receiver"]["VmHWM"],
        "sender_rss_mib": memory["sender"]["VmRSS"],
        "receiver_rss_mib": memory["receiver"]["VmRSS"],
        "progress": progress,
        "profile": profile,
    }
    return result, {"sender_dir": str(sender.directory), "seal_key": infos[RECEIVER]["seal_key"]}


def run_bare(sender_dir: Path, seal_key: str, records: int, batch: int) -> dict[str, Any]:
    began = time.monotonic()
    bodies = envelope_bodies(sender_dir, seal_key, records, batch)
    build_seconds = time.monotonic() - began
    port = free_port()
    log = sender_dir.parent / "bare.log"
    process = subprocess.Popen(
        [sys.executable, str(BARE_SERVER), "--port", str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ready", process, log)
        url = f"http://127.0.0.1:{port}{INBOX_PATH}"
        headers = {"content-type": "application/json"}
        with httpx.Client(timeout=30) as client:
            t0 = time.monotonic()
            for body in bodies:
                response = client.post(url, content=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"bare endpoint answered {response.status_code}")
            seconds = time.monotonic() - t0
        peak = memory_mib(process.pid)["VmHWM"]
    finally:
        stop(process)
    return {
        "bare_http_per_s": round(records / seconds, 1),
        "bare_seconds": round(seconds, 3),
        "bare_server_peak_mib": peak,
        "bytes_per_release": round(sum(len(b) for b in bodies) / records),
        "envelope_build_seconds": round(build_seconds, 1),
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("records", f"{result['records']:,}"),
        ("batch", str(result["batch"])),
        ("node → node releases/s", f"{result['releases_per_s']:,.0f}"),
        ("bare HTTP envelopes/s", f"{result['bare_http_per_s']:,.0f}"),
        ("ratio vs bare HTTP", f"{result['ratio_vs_bare_http']:.6f}"),
        ("delivery seconds", f"{result['seconds']:,.1f}"),
        ("sender peak MiB", f"{result['sender_peak_mib']:,.0f}"),
        ("receiver peak MiB", f"{result['receiver_peak_mib']:,.0f}"),
        ("bytes per release", f"{result['bytes_per_release']:,}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v:>12}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 records (default output federation-quick.json)")
    parser.add_argument("--batch", type=int, default=200, help="envelopes per POST (the node's default is 200)")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for delivery (bounded)")
    parser.add_argument("--profile-seconds", type=int, default=0, help="py-spy both nodes for this long")
    parser.add_argument("--profile-from", type=int, default=0, help="start profiling once this many arrived")
    parser.add_argument("--keep", action="store_true", help="keep the nodes' folders")
    args = parser.parse_args(argv)
    records = 10_000 if args.quick else args.records
    if records < 1 or not 1 <= args.batch <= 1000:
        parser.error("records must be positive and batch between 1 and 1000 (the inbox's limit)")
    output = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    timeout = args.timeout or max(300.0, records / 20)
    base = Path(tempfile.mkdtemp(prefix="alianza-bench-"))
    started, load_before = time.monotonic(), round(os.getloadavg()[0], 2)
    try:
        nodes, handoff = run_nodes(base, records, args.batch, timeout, args.profile_seconds, args.profile_from)
        bare = run_bare(Path(handoff["sender_dir"]), handoff["seal_key"], records, args.batch)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    profile = nodes.pop("profile")
    result: dict[str, Any] = {
        "benchmark": "federation",
        "records": records,
        "batch": args.batch,
        "releases_per_s": nodes["releases_per_s"],
        "bare_http_per_s": bare["bare_http_per_s"],
        "ratio_vs_bare_http": round(nodes["releases_per_s"] / bare["bare_http_per_s"], 6),
        **{k: v for k, v in nodes.items() if k != "releases_per_s"},
        **{k: v for k, v in bare.items() if k != "bare_http_per_s"},
        "sealed": True,
        "total_seconds": round(time.monotonic() - started, 1),
        "machine": machine() | {"load_average_1m_at_start": load_before},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if profile:  # py-spy slows the nodes down: a profiled run's rates are not comparable with the others
        result["profile"] = {"seconds": args.profile_seconds, **profile}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    print(f"written to {output}" + (f"; nodes kept in {base}" if args.keep else ""))
    for name, frames in profile.items():
        print(f"\n{name}: share of the wall time under {WORK[name]} ({frames['samples']} samples), own time")
        for frame, pct in frames["self"]:
            print(f"  {pct:5.1f}%  {frame}")
        print(f"{name}: including callees")
        for frame, pct in frames["inclusive"]:
            print(f"  {pct:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
