"""The broker's floor under a pipeline: one bare Kafka hop, measured on the cluster's broker.

A pipeline request crosses 2N + 2 hops for N steps (gateway -> dataflow, then per step
dataflow -> model worker -> dataflow, then dataflow -> gateway), and each hop is a produce
acknowledged by the broker followed by a consumer's fetch that picks the record up. This
measures exactly that with nothing of ours around it: a producer and a group consumer made by
`AiokafkaBus` with the pipelines' own `KafkaConfig` (same linger, acks, fetch wait), one record
at a time, timed from the send until the consumer holds the record. It runs on the broker of the
cluster being measured, while that cluster's own consumers poll as they do during a cell, so
the figure is the floor the pipeline cells stand on.

Run on its own, it characterises a broker: how a hop grows with the consumer's fetch wait.

    .venv/bin/python -m bench.kafka_hop                      # starts its own Tansu
    .venv/bin/python -m bench.kafka_hop --bootstrap HOST:PORT --fetch-waits 1,5,100,500

Each wait is measured twice: with every send right after the consumer's last record came
back (its next fetch has just started waiting, as in a pipeline at concurrency 1), and with a
random pause before each send (the record lands at a random point of that wait). A broker that
answers a waiting fetch as soon as a record arrives (Apache Kafka) gives the same hop at every
wait; Tansu 0.6 does not: its hop grows with the wait.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `loadmaster` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchError, ServerProcess, free_port
from loadmaster.kafka.aiokafka_bus import AiokafkaBus
from loadmaster.kafka.config import KafkaConfig

CLIENT_ID = "bench-hop"
SETTLE_S = 30.0  # a new group's first assignment takes a few seconds on Tansu
FETCH_WAIT_MS = 100


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(
    config: KafkaConfig, samples: int, warmup: int, size: int, pause_ms: float = 0.0
) -> dict[str, float]:
    bus = AiokafkaBus(config)
    cell = f"w{config.fetch_max_wait_ms}p{pause_ms:.0f}"
    topic = f"{config.prefix}.{config.namespace}.bench-hop.{cell}"
    pauses = random.Random(config.fetch_max_wait_ms)  # the same pauses on every run
    admin = bus.admin(CLIENT_ID)
    await admin.start()
    try:
        await admin.create_topics([topic], 1, config.replication_factor)
    finally:
        await admin.stop()
    producer = bus.producer(CLIENT_ID)
    consumer = bus.group_consumer(topic, CLIENT_ID)
    await producer.start()
    await consumer.start()
    try:
        await consumer.subscribe([topic])
        deadline = time.monotonic() + SETTLE_S
        while not await consumer.fetch(10, FETCH_WAIT_MS):  # until the group owns the topic
            if time.monotonic() > deadline:
                raise BenchError(f"the hop consumer got nothing within {SETTLE_S:.0f}s")
            await producer.send(topic, b"settle", key=b"settle")
        value = b"x" * size
        hops: list[float] = []
        acks: list[float] = []
        for number in range(warmup + samples):
            key = str(number).encode()
            if pause_ms:
                await asyncio.sleep(pauses.uniform(0.0, pause_ms) / 1000)
            started = time.perf_counter()
            await producer.send(topic, value, key=key)
            acked = time.perf_counter()
            while not any(r.key == key for r in await consumer.fetch(10, FETCH_WAIT_MS)):
                if time.perf_counter() - started > 10:
                    raise BenchError("a hop record did not come back within 10 s")
            if number >= warmup:
                hops.append((time.perf_counter() - started) * 1000)
                acks.append((acked - started) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "samples": float(samples),
        "p50_ms": round(statistics.median(hops), 3),
        "p90_ms": round(_quantile(hops, 0.9), 3),
        "ack_p50_ms": round(statistics.median(acks), 3),
    }


def measure_hop(
    config: KafkaConfig, samples: int = 300, warmup: int = 50, size: int = 400
) -> dict[str, float]:
    """p50/p90 of one produce-to-consume hop (ms) and the produce acknowledgement's p50."""
    return asyncio.run(_measure(config, samples, warmup, size))


def _start_tansu(logs: Path) -> tuple[ServerProcess, str]:
    from bench.pipeline_cluster import start_broker

    port = free_port()
    return start_broker(port, logs / "broker.log"), f"127.0.0.1:{port}"


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of hop p50 (ms) over fetch wait (ms)."""
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


Row = tuple[int, dict[str, float], dict[str, float]]


def _report(rows: list[Row]) -> None:
    print("fetch wait ms | at once: hop p50 / p90 ms | random pause: hop p50 / p90 ms | ack p50")
    for wait, once, rand in rows:
        cells = [f"{r['p50_ms']:12.2f} / {r['p90_ms']:6.2f}" for r in (once, rand)]
        print(f"{wait:13d} | {cells[0]:>24} | {cells[1]:>29} | {once['ack_p50_ms']:.2f}")
    if len(rows) > 1:
        grows = [
            _slope([(wait, once["p50_ms"]) for wait, once, _ in rows]),
            _slope([(wait, rand["p50_ms"]) for wait, _, rand in rows]),
        ]
        print(
            f"hop p50 grows {grows[0]:.2f} (at once) and {grows[1]:.2f} (random pause) ms per ms"
            " of fetch wait; about 0 means the broker answers a waiting fetch on arrival"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="How a bare Kafka hop grows with fetch wait.")
    parser.add_argument("--bootstrap", help="a running broker (default: start Tansu)")
    parser.add_argument("--fetch-waits", default="1,2,5,20", help="ms, comma-separated")
    parser.add_argument("--samples", type=int, default=100, help="hops per wait")
    args = parser.parse_args(argv)
    waits = [int(w) for w in args.fetch_waits.split(",")]
    if any(w < 1 for w in waits):
        parser.error("--fetch-waits: each wait is at least 1 ms")
    with tempfile.TemporaryDirectory(prefix="kafka-hop-") as tmp:
        broker, bootstrap = (None, args.bootstrap) if args.bootstrap else _start_tansu(Path(tmp))
        try:
            rows: list[Row] = []
            for wait in waits:
                config = KafkaConfig(bootstrap=bootstrap, namespace="hop", fetch_max_wait_ms=wait)
                at_once = asyncio.run(_measure(config, args.samples, 20, 400))
                at_random = asyncio.run(_measure(config, args.samples, 20, 400, 2.0 * wait))
                rows.append((wait, at_once, at_random))
        finally:
            if broker is not None:
                broker.stop()
    print(f"broker {args.bootstrap or 'Tansu (started here)'}; {args.samples} hops per wait")
    _report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
