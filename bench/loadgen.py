"""The load generator: its own process, so that it does not share the server's event loop.

    python -m bench.loadgen storm URL --deliveries 10000 --keys 100 --clients 50 --run ID [--client raw]
                                  [--intake alertmanager|opsgenie]
    python -m bench.loadgen paced URL --rate 20 --seconds 15 --run ID
    python -m bench.loadgen workflows HOST:PORT --plan FILE --seconds 60
    python -m bench.loadgen pings URL --heartbeats 10000 --interval 60 --start EPOCH --rounds 3 \
        --stop-every 10 --stop-after 1 --clients 16

Prints one JSON report on stdout. Every delivery is an Alertmanager webhook (version 4) body as
Alertmanager 0.25 sends it, with its own groupKey and alert fingerprint per key, all firing; with
`--intake opsgenie`, the create-alert body Alertmanager's `opsgenie_configs` sends to `POST /v2/alerts`
(an alias per key, the common labels as details) with its `Authorization: GenieKey` header.

`workflows` starts the Temporal workflows listed in a plan file (JSON: `task_queue`, `workflow` (its
type name) and `starts`, a list of `{"id": ..., "arg": ...}`) evenly over `--seconds`, open loop,
through a Temporal client of its own; bench.paging writes the plan.

`pings` pings heartbeats `hb-00000`.. (POST /v1/heartbeats/{name}/ping) on a fixed timetable, open loop:
heartbeat i at `--start` (a Unix time, shared with the benchmark) plus i/N of the interval plus each
round's interval, over plain keep-alive connections; every `--stop-every`-th heartbeat stops after
`--stop-after` rounds (bench.heartbeats waits for those to go late).

The storm's clients are httpx.AsyncClient sessions (one connection each) by default. httpx costs about
2 ms of CPU per request here, so on a 2-core machine one load process tops out near 500 requests/s
whatever the server does; `--client raw` sends the same requests over plain asyncio streams (HTTP/1.1
keep-alive, a tenth of the CPU) to measure the server rather than the client.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio.client import Client

PATH = "/v1/alerts/alertmanager"
HEADERS = {"content-type": "application/json", "user-agent": "Alertmanager/0.25.0"}
OPSGENIE_PATH = "/v2/alerts"
# Sent as Alertmanager sends its api_key; the bench's stack sets no key, so any is accepted.
OPSGENIE_HEADERS = {**HEADERS, "authorization": "GenieKey 00000000-0000-4000-8000-000000000000"}


def opsgenie_alias(run: str, key: int) -> str:
    return f"Bench{run}Key{key}"


def opsgenie_payload(run: str, key: int) -> bytes:
    """What Alertmanager's opsgenie_configs posts for one firing group (notify/opsgenie, its defaults)."""
    name = opsgenie_alias(run, key)
    body = {
        "alias": name,
        "message": f"[FIRING:1] {name} (bench-{key}:9100 checkout critical)",
        "description": (
            f"Alerts Firing:\nLabels:\n - alertname = {name}\nAnnotations:\n - summary = bench alert {key}\n"
        ),
        "details": {
            "alertname": name,
            "instance": f"bench-{key}:9100",
            "service": "checkout",
            "severity": "critical",
        },
        "source": "http://alertmanager.example:9093/#/alerts?receiver=opsgenie",
    }
    return json.dumps(body).encode()


def alertmanager_payload(run: str, key: int) -> bytes:
    name = f"Bench{run}Key{key}"
    labels = {
        "alertname": name,
        "instance": f"bench-{key}:9100",
        "service": "checkout",
        "severity": "critical",
    }
    annotations = {"summary": f"bench alert {key}", "runbook_url": "https://runbooks.example.com/bench"}
    starts = (datetime.now(UTC) - timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    body = {
        "receiver": "sevflow",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph",
                "fingerprint": hashlib.sha256(name.encode()).hexdigest()[:16],
            }
        ],
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
    }
    return json.dumps(body).encode()


async def warm_up(client: httpx.AsyncClient, requests: int = 5) -> None:
    for _ in range(requests):
        (await client.get("/healthz")).raise_for_status()


class HttpxClient:
    def __init__(self, url: str, path: str = PATH, headers: dict[str, str] = HEADERS) -> None:
        self.session = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=1))
        self.path, self.headers = path, headers

    async def open(self) -> None:
        await warm_up(self.session)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        response = await self.session.post(self.path, content=body, headers=self.headers)
        return response.status_code, response.content

    async def close(self) -> None:
        await self.session.aclose()


class RawClient:
    """HTTP/1.1 keep-alive over one asyncio stream; enough for uvicorn's Content-Length answers."""

    def __init__(self, url: str, path: str = PATH, headers: dict[str, str] = HEADERS) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = path
        self.fields = f"host: {self.host}:{self.port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, body: bytes, path: str | None = None) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        request = f"POST {path or self.path} HTTP/1.1\r\n{self.fields}content-length: {len(body)}\r\n\r\n"
        self.writer.write(request.encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        length = {k.strip().lower(): v.strip() for k, v in fields.items()}.get("content-length")
        if length is None:
            raise RuntimeError(f"no content-length in the answer: {head!r}")
        return status, await self.reader.readexactly(int(length))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def storm(
    url: str,
    deliveries: int,
    keys: int,
    clients: int,
    run: str,
    kind: str = "httpx",
    intake: str = "alertmanager",
) -> dict[str, Any]:
    """`deliveries` POSTs over `keys` keys from `clients` clients, each one connection, as fast as they go."""
    opsgenie = intake == "opsgenie"
    payloads = [(opsgenie_payload if opsgenie else alertmanager_payload)(run, k) for k in range(keys)]
    path, headers = (OPSGENIE_PATH, OPSGENIE_HEADERS) if opsgenie else (PATH, HEADERS)
    work = iter(range(deliveries))
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    latencies: list[float] = []
    session_kind = HttpxClient if kind == "httpx" else RawClient
    sessions = [session_kind(url, path, headers) for _ in range(clients)]
    try:
        await asyncio.gather(*(s.open() for s in sessions))

        async def client(session: HttpxClient | RawClient) -> None:
            for n in work:
                started = time.perf_counter()
                try:
                    status, body = await session.post(payloads[n % keys])
                    statuses[status] += 1
                    if status != 202:
                        errors.append(f"{status}: {body[:200]!r}")
                except (httpx.HTTPError, OSError, RuntimeError, asyncio.IncompleteReadError) as err:
                    errors.append(f"{type(err).__name__}: {err}")
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(client(s) for s in sessions))
        elapsed = time.perf_counter() - began
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return {
        "deliveries": deliveries,
        "keys": keys,
        "clients": clients,
        "client": kind,
        "intake": intake,
        "elapsed": elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": len(errors),
        "error_samples": errors[:5],
        "latencies": latencies,
    }


async def paced(url: str, rate: float, seconds: float, run: str) -> dict[str, Any]:
    """New keys at a steady `rate` per second for `seconds`, open loop (a slow answer delays nothing)."""
    count = round(rate * seconds)
    payloads = [alertmanager_payload(run, k) for k in range(count)]
    sent: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as session:
        await warm_up(session)

        async def one(key: int) -> None:
            wall = time.time()
            started = time.perf_counter()
            record: dict[str, Any] = {"key": key, "posted_at": wall}
            try:
                response = await session.post(PATH, content=payloads[key], headers=HEADERS)
                record["status"] = response.status_code
                if response.status_code == 202:
                    record["alert_groups"] = [b.get("alert_group") for b in response.json()["batches"]]
                else:
                    record["error"] = response.text[:200]
            except httpx.HTTPError as err:
                record["status"] = None
                record["error"] = f"{type(err).__name__}: {err}"
            record["response_latency"] = time.perf_counter() - started
            sent.append(record)

        tasks = []
        began = time.perf_counter()
        for key in range(count):
            delay = began + key / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(key)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return {"rate": rate, "seconds": seconds, "count": count, "elapsed": elapsed, "sent": sent}


async def workflows(target: str, plan: dict[str, Any], seconds: float, namespace: str) -> dict[str, Any]:
    """Start every workflow of the plan at a steady pace over `seconds`, open loop (a slow start delays
    no later one). Each start's wall clock is taken just before its request is sent."""
    starts: list[dict[str, Any]] = plan["starts"]
    client = await Client.connect(target, namespace=namespace)
    sent: list[dict[str, Any]] = []
    interval = seconds / max(1, len(starts))

    async def one(start: dict[str, Any]) -> None:
        record: dict[str, Any] = {"id": start["id"], "started_at": time.time()}
        began = time.perf_counter()
        try:
            await client.start_workflow(
                plan["workflow"], start["arg"], id=start["id"], task_queue=plan["task_queue"]
            )
        except Exception as err:  # reported, and counted as a failure by the benchmark
            record["error"] = f"{type(err).__name__}: {err}"
        record["latency"] = time.perf_counter() - began
        sent.append(record)

    tasks = []
    began = time.perf_counter()
    for n, start in enumerate(starts):
        delay = began + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(start)))
    await asyncio.gather(*tasks)
    return {"count": len(starts), "seconds": seconds, "elapsed": time.perf_counter() - began, "sent": sent}


def heartbeat_name(n: int) -> str:
    return f"hb-{n:05d}"


def ping_timetable(
    heartbeats: int, interval: float, start: float, rounds: int, stop_every: int, stop_after: int
) -> list[tuple[float, int]]:
    """(when, heartbeat) of every ping, soonest first: heartbeat i at start + i/N of the interval
    plus each round's interval; those with i % stop_every == 0 only in their first stop_after rounds."""
    return sorted(
        (start + interval * (n / heartbeats + k), n)
        for k in range(rounds)
        for n in range(heartbeats)
        if n % stop_every != 0 or k < stop_after
    )


async def pings(
    url: str,
    heartbeats: int,
    interval: float,
    start: float,
    rounds: int,
    stop_every: int,
    stop_after: int,
    clients: int,
) -> dict[str, Any]:
    """The timetable's pings, each sent when due (open loop: a slow answer delays no later ping while a
    connection is free); how late they went out and what came back."""
    timetable = ping_timetable(heartbeats, interval, start, rounds, stop_every, stop_after)
    queue: asyncio.Queue[tuple[float, int] | None] = asyncio.Queue()
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    behind: list[float] = []
    latencies: list[float] = []
    sessions = [RawClient(url) for _ in range(clients)]
    await asyncio.gather(*(s.open() for s in sessions))

    async def client(session: RawClient) -> None:
        while (job := await queue.get()) is not None:
            due, n = job
            behind.append(time.time() - due)
            began = time.perf_counter()
            try:
                status, body = await session.post(b"", f"/v1/heartbeats/{heartbeat_name(n)}/ping")
                statuses[status] += 1
                if status != 200:
                    errors.append(f"{heartbeat_name(n)} {status}: {body[:200]!r}")
            except (OSError, RuntimeError, asyncio.IncompleteReadError) as err:
                errors.append(f"{heartbeat_name(n)} {type(err).__name__}: {err}")
            latencies.append(time.perf_counter() - began)

    running = [asyncio.create_task(client(s)) for s in sessions]
    try:
        for due, n in timetable:
            if (wait := due - time.time()) > 0:
                await asyncio.sleep(wait)
            queue.put_nowait((due, n))
        for _ in sessions:
            queue.put_nowait(None)
        await asyncio.gather(*running)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return {
        "pings": len(timetable),
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": len(errors),
        "error_samples": errors[:5],
        "behind": behind,
        "latencies": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("storm")
    s.add_argument("url")
    s.add_argument("--deliveries", type=int, default=10_000)
    s.add_argument("--keys", type=int, default=100)
    s.add_argument("--clients", type=int, default=50)
    s.add_argument("--run", default="0")
    s.add_argument("--client", choices=["httpx", "raw"], default="httpx")
    s.add_argument("--intake", choices=["alertmanager", "opsgenie"], default="alertmanager")
    p = sub.add_parser("paced")
    p.add_argument("url")
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--run", default="0")
    w = sub.add_parser("workflows")
    w.add_argument("target", help="the Temporal frontend, HOST:PORT")
    w.add_argument("--plan", required=True, help="the JSON plan file")
    w.add_argument("--seconds", type=float, default=60)
    w.add_argument("--namespace", default="default")
    h = sub.add_parser("pings")
    h.add_argument("url")
    h.add_argument("--heartbeats", type=int, default=10_000)
    h.add_argument("--interval", type=float, default=60)
    h.add_argument("--start", type=float, required=True, help="the first round's Unix time")
    h.add_argument("--rounds", type=int, default=3)
    h.add_argument("--stop-every", type=int, default=10)
    h.add_argument("--stop-after", type=int, default=1)
    h.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    if args.mode == "pings":
        report = asyncio.run(
            pings(
                args.url,
                args.heartbeats,
                args.interval,
                args.start,
                args.rounds,
                args.stop_every,
                args.stop_after,
                args.clients,
            )
        )
    elif args.mode == "storm":
        report = asyncio.run(
            storm(args.url, args.deliveries, args.keys, args.clients, args.run, args.client, args.intake)
        )
    elif args.mode == "workflows":
        plan = json.loads(Path(args.plan).read_text())
        report = asyncio.run(workflows(args.target, plan, args.seconds, args.namespace))
    else:
        report = asyncio.run(paced(args.url, args.rate, args.seconds, args.run))
    print(json.dumps(report), flush=True)
    if args.mode == "workflows":
        # The Temporal client's core threads may call into Python while the interpreter finalizes
        # (an abort, "PyGILState_Release ... must be current"), losing an exit status the report earned.
        os._exit(0)


if __name__ == "__main__":
    main()
