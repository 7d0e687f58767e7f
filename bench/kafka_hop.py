"""The broker's floor under a pipeline: one bare Kafka hop, measured on the cluster's broker.

A pipeline request crosses 2N + 2 hops for N steps (gateway -> dataflow, then per step
dataflow -> model worker -> dataflow, then dataflow -> gateway), and each hop is a produce
acknowledged by the broker followed by a consumer's fetch that picks the record up. This
measures exactly that with nothing of ours around it: a producer and a group consumer made by
`AiokafkaBus` with the pipelines' own `KafkaConfig` (same linger, acks, fetch wait), one record
at a time, timed from the send until the consumer holds the record. It runs on the broker of the
cluster being measured, while that cluster's own consumers poll as they do during a cell, so
the figure is the floor the pipeline cells stand on.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.common import BenchError
from loadmaster.kafka.aiokafka_bus import AiokafkaBus
from loadmaster.kafka.config import KafkaConfig

CLIENT_ID = "bench-hop"
SETTLE_S = 30.0  # a new group's first assignment takes a few seconds on Tansu
FETCH_WAIT_MS = 100


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(config: KafkaConfig, samples: int, warmup: int, size: int) -> dict[str, float]:
    bus = AiokafkaBus(config)
    topic = f"{config.prefix}.{config.namespace}.bench-hop"
    admin = bus.admin(CLIENT_ID)
    await admin.start()
    try:
        await admin.create_topics([topic], 1, config.replication_factor)
    finally:
        await admin.stop()
    producer = bus.producer(CLIENT_ID)
    consumer = bus.group_consumer(f"{config.prefix}.{config.namespace}.bench-hop", CLIENT_ID)
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
