"""Port checks: a busy fixed port is an error naming the flag that moves it."""

from __future__ import annotations

import socket

from loadmaster.local_cluster.ports import (
    ClusterPorts,
    free_ports,
    port_is_free,
    port_problems,
    ports_in_use,
)


def test_all_free_is_no_problem() -> None:
    assert port_problems(ClusterPorts(), True, lambda port: True) == []


def test_each_busy_port_names_its_flag() -> None:
    busy = {9004, 9500, 2379, 9092}
    problems = port_problems(ClusterPorts(), True, lambda port: port not in busy)
    assert problems == [
        "port 9004 (the scheduler's admin API) is already in use; is another cluster running? "
        "stop it, or choose another port with --admin-port PORT",
        "port 9500 (the gateway's gRPC port) is already in use; is another cluster running? "
        "stop it, or choose another port with --gateway-grpc-port PORT",
        "port 2379 (etcd's client port) is already in use; is another cluster running? "
        "stop it, or choose another port with --etcd-port PORT",
        "port 9092 (the Kafka broker) is already in use; is another cluster running? "
        "stop it, or choose another port with --kafka-port PORT",
    ]


def test_the_broker_port_is_not_checked_without_a_local_broker() -> None:
    assert port_problems(ClusterPorts(), False, lambda port: port != 9092) == []
    assert "kafka" not in ports_in_use(ClusterPorts(), with_kafka=False)


def test_metrics_port_zero_is_off_and_not_checked() -> None:
    ports = ClusterPorts(metrics=0)
    assert "metrics" not in ports_in_use(ports, True)
    assert port_problems(ports, True, lambda port: port != 0) == []


def test_one_port_given_twice_is_reported_with_both_flags() -> None:
    problems = port_problems(ClusterPorts(gateway_http=9004), True, lambda port: True)
    assert problems == [
        "port 9004 is given for both the scheduler's admin API (--admin-port) and the "
        "gateway's REST port (--gateway-http-port); give them different ports"
    ]


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free(sock.getsockname()[1])


def test_free_ports_are_distinct_and_avoid_the_fixed_ones() -> None:
    offered = iter([9004, 40000, 40000, 9000, 40001, 40002])
    assert free_ports(3, {9004, 9000}, lambda: next(offered)) == [40000, 40001, 40002]
