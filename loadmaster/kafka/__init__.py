"""Kafka for pipelines: configuration, topic names, the record contract and the bus seam.

Only `aiokafka_bus` imports aiokafka (brief §1); everything else talks to the `Bus` protocol,
and unit tests use `memory_bus.MemoryBus`.
"""
