"""Kafka flags shared by the gateway, `pipeline-worker` and `pipeline inspect`.

Every flag also reads an environment variable, so one `LOADMASTER_KAFKA_BOOTSTRAP` points every
part (and the integration tests) at the same broker, Tansu locally or Apache Kafka in
production.
"""

from __future__ import annotations

import argparse
import os

from loadmaster.cli.arguments import positive
from loadmaster.kafka.config import DEFAULT_NAMESPACE, DEFAULT_PREFIX, KafkaConfig

ENV_BOOTSTRAP = "LOADMASTER_KAFKA_BOOTSTRAP"
ENV_PREFIX = "LOADMASTER_KAFKA_PREFIX"
ENV_NAMESPACE = "LOADMASTER_KAFKA_NAMESPACE"
ACKS = ("all", "1", "0")


def _not_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _topic_word(text: str) -> str:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    if not text or not set(text) <= allowed:
        raise argparse.ArgumentTypeError(
            f"expected letters, digits, '-' or '_' (it becomes part of topic names), got {text!r}"
        )
    return text


def add_kafka_arguments(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    """`--kafka-bootstrap` defaults to $LOADMASTER_KAFKA_BOOTSTRAP; when neither is given and
    `required` is False, `kafka_config_from` returns None (no pipelines on this process)."""
    g = p.add_argument_group("Kafka (pipelines)")
    g.add_argument(
        "--kafka-bootstrap",
        metavar="HOST:PORT[,...]",
        default=os.environ.get(ENV_BOOTSTRAP, ""),
        help=f"the Kafka brokers (default: ${ENV_BOOTSTRAP})"
        + ("" if required else "; without it, pipelines are off"),
    )
    g.add_argument(
        "--kafka-prefix",
        type=_topic_word,
        default=os.environ.get(ENV_PREFIX) or DEFAULT_PREFIX,
        help=f"first part of every topic name (default: ${ENV_PREFIX} or {DEFAULT_PREFIX})",
    )
    g.add_argument(
        "--kafka-namespace",
        type=_topic_word,
        default=os.environ.get(ENV_NAMESPACE) or DEFAULT_NAMESPACE,
        help=f"second part of every topic name (default: ${ENV_NAMESPACE} or {DEFAULT_NAMESPACE})",
    )
    defaults = KafkaConfig()
    g.add_argument(
        "--kafka-partitions",
        type=positive,
        default=defaults.partitions,
        metavar="N",
        help=f"partitions of each topic this process creates (default {defaults.partitions})",
    )
    g.add_argument(
        "--kafka-replication",
        type=positive,
        default=defaults.replication_factor,
        metavar="N",
        help="replication factor of the topics it creates (default 1)",
    )
    g.add_argument(
        "--kafka-linger-ms",
        type=_not_negative,
        default=defaults.linger_ms,
        metavar="MS",
        help=f"producer linger (default {defaults.linger_ms})",
    )
    g.add_argument(
        "--kafka-acks", choices=ACKS, default=defaults.acks, help="producer acks (default all)"
    )
    g.add_argument(
        "--kafka-fetch-wait-ms",
        type=_not_negative,
        default=defaults.fetch_max_wait_ms,
        metavar="MS",
        help=f"consumer fetch max wait (default {defaults.fetch_max_wait_ms})",
    )


def kafka_config_from(args: argparse.Namespace) -> KafkaConfig | None:
    """The configuration the flags give; None when no bootstrap address was given."""
    bootstrap = str(args.kafka_bootstrap).strip()
    if not bootstrap:
        return None
    return KafkaConfig(
        bootstrap=bootstrap,
        prefix=args.kafka_prefix,
        namespace=args.kafka_namespace,
        partitions=args.kafka_partitions,
        replication_factor=args.kafka_replication,
        linger_ms=args.kafka_linger_ms,
        acks=args.kafka_acks,
        fetch_max_wait_ms=args.kafka_fetch_wait_ms,
    )
