"""The Kafka broker fixture for integration tests (imported by tests/integration/conftest.py).

One broker per test session: Tansu started on a free loopback port, or the real Kafka named by
$LOADMASTER_KAFKA_BOOTSTRAP (then nothing is started). Tests share it, so each names its topics
and groups with `tests.kafka_server.unique_name` and never sees another test's records.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kafka_server import kafka_broker


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """HOST:PORT of a broker that accepts connections."""
    with kafka_broker() as bootstrap:
        yield bootstrap
