"""What the gateway benchmark concludes from its cells: the overhead rows and the verdicts.

Kept apart from the measuring so the arithmetic (added latency, throughput ratio, CPU per
request) and the issue's targets are in one place, for every protocol the benchmark measures.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.common import format_table

Cell = dict[str, object]

# The targets for the gateway, against calling the agent directly.
TARGET_ADDED_P50_MS, LATENCY_CONCURRENCY = 0.5, 1
TARGET_THROUGHPUT_RATIO, THROUGHPUT_CONCURRENCY = 0.70, 32


def _cell(cells: Sequence[Cell], key: tuple[str, str, int], hop: str) -> Cell:
    for cell in cells:
        if (cell["layout"], cell["protocol"], cell["concurrency"]) == key and cell["hop"] == hop:
            return cell
    raise KeyError((*key, hop))


def _num(mapping: dict[str, object], key: str) -> float:
    value = mapping[key]
    if not isinstance(value, int | float):
        raise TypeError(f"{key} is {value!r}, not a number")
    return float(value)


def _cpu(cell: Cell, key: str) -> float:
    cpu = cell["cpu"]
    if not isinstance(cpu, dict):
        raise TypeError(f"cpu is {cpu!r}")
    return _num(cpu, key)


def _us_per_request(cores: float, rps: float) -> float | None:
    return round(cores / rps * 1e6, 1) if rps > 0 else None


def comparisons(cells: Sequence[Cell]) -> list[dict[str, object]]:
    """Per layout, protocol and concurrency (in the order measured): gateway against direct."""
    keys = list(
        dict.fromkeys(
            (str(c["layout"]), str(c["protocol"]), int(str(c["concurrency"]))) for c in cells
        )
    )
    rows: list[dict[str, object]] = []
    for key in keys:
        layout, protocol, concurrency = key
        direct, gateway = _cell(cells, key, "direct"), _cell(cells, key, "gateway")
        direct_rps, gateway_rps = _num(direct, "throughput_rps"), _num(gateway, "throughput_rps")
        agent_direct = _cpu(direct, "agent_front_cores") + _cpu(direct, "agent_workers_cores")
        agent_via = _cpu(gateway, "agent_front_cores") + _cpu(gateway, "agent_workers_cores")
        rows.append(
            {
                "layout": layout,
                "protocol": protocol,
                "concurrency": concurrency,
                "direct_p50_ms": _num(direct, "p50_ms"),
                "gateway_p50_ms": _num(gateway, "p50_ms"),
                "added_p50_ms": round(_num(gateway, "p50_ms") - _num(direct, "p50_ms"), 3),
                "direct_p99_ms": _num(direct, "p99_ms"),
                "gateway_p99_ms": _num(gateway, "p99_ms"),
                "added_p99_ms": round(_num(gateway, "p99_ms") - _num(direct, "p99_ms"), 3),
                "direct_rps": round(direct_rps, 1),
                "gateway_rps": round(gateway_rps, 1),
                "throughput_ratio": round(gateway_rps / direct_rps, 3) if direct_rps else None,
                "gateway_cpu_us_per_request": _us_per_request(
                    _cpu(gateway, "gateway_cores"), gateway_rps
                ),
                "agent_cpu_us_per_request_direct": _us_per_request(agent_direct, direct_rps),
                "agent_cpu_us_per_request_via_gateway": _us_per_request(agent_via, gateway_rps),
            }
        )
    return rows


def target_verdicts(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    verdicts: list[dict[str, object]] = []
    for row in rows:
        if row["concurrency"] == LATENCY_CONCURRENCY:
            added = _num(row, "added_p50_ms")
            verdicts.append(
                {
                    "layout": row["layout"],
                    "protocol": row["protocol"],
                    "concurrency": LATENCY_CONCURRENCY,
                    "measure": "added p50 (ms)",
                    "value": added,
                    "target": f"<= {TARGET_ADDED_P50_MS}",
                    "met": added <= TARGET_ADDED_P50_MS,
                }
            )
        if row["concurrency"] == THROUGHPUT_CONCURRENCY:
            ratio = row["throughput_ratio"]
            verdicts.append(
                {
                    "layout": row["layout"],
                    "protocol": row["protocol"],
                    "concurrency": THROUGHPUT_CONCURRENCY,
                    "measure": "throughput, gateway / direct",
                    "value": ratio,
                    "target": f">= {TARGET_THROUGHPUT_RATIO:.0%}",
                    "met": isinstance(ratio, float) and ratio >= TARGET_THROUGHPUT_RATIO,
                }
            )
    return verdicts


def print_report(
    cells: Sequence[Cell],
    rows: Sequence[dict[str, object]],
    verdicts: Sequence[dict[str, object]],
    machine: dict[str, object],
) -> None:
    cpus = machine.get("cpus")
    headers = [
        "layout", "route", "protocol", "conc", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors",
        "wrk CPU", "agent front", "agent workers", "gateway", "machine busy", "other",
    ]  # fmt: skip
    table = [
        [
            str(cell["layout"]),
            str(cell["hop"]),
            str(cell["protocol"]).upper(),
            str(cell["concurrency"]),
            f"{_num(cell, 'throughput_rps'):.0f}",
            f"{_num(cell, 'p50_ms'):.3f}",
            f"{_num(cell, 'p90_ms'):.3f}",
            f"{_num(cell, 'p99_ms'):.3f}",
            str(cell["errors"]),
            f"{_cpu(cell, 'loadgen_cores'):.2f}",
            f"{_cpu(cell, 'agent_front_cores'):.2f}",
            f"{_cpu(cell, 'agent_workers_cores'):.2f}",
            f"{_cpu(cell, 'gateway_cores'):.2f}",
            f"{_cpu(cell, 'machine_busy_cores'):.2f}",
            f"{_cpu(cell, 'other_cores'):.2f}" + ("*" if cell["disturbed"] else ""),
        ]
        for cell in cells
    ]
    print()
    print(f"Gateway against direct, mlp [1,32] FP32 (CPU columns in cores, of {cpus})")
    print(format_table(headers, table))
    if any(cell["disturbed"] for cell in cells):
        print("* other work on the machine used more than 0.25 cores during this run")
    print()
    overhead = [
        [
            str(row["layout"]),
            str(row["protocol"]).upper(),
            str(row["concurrency"]),
            f"{_num(row, 'direct_p50_ms'):.3f}",
            f"{_num(row, 'gateway_p50_ms'):.3f}",
            f"{_num(row, 'added_p50_ms'):+.3f}",
            f"{_num(row, 'direct_p99_ms'):.3f}",
            f"{_num(row, 'gateway_p99_ms'):.3f}",
            f"{_num(row, 'added_p99_ms'):+.3f}",
            f"{_num(row, 'direct_rps'):.0f}",
            f"{_num(row, 'gateway_rps'):.0f}",
            f"{row['throughput_ratio']:.0%}" if row["throughput_ratio"] is not None else "-",
            str(row["gateway_cpu_us_per_request"]),
        ]
        for row in rows
    ]
    overhead_headers = [
        "layout", "protocol", "conc", "direct p50", "gw p50", "added p50", "direct p99", "gw p99",
        "added p99", "direct req/s", "gw req/s", "ratio", "gw CPU us/req",
    ]  # fmt: skip
    print("What the gateway adds (added = gateway - direct; ratio = gateway / direct)")
    print(format_table(overhead_headers, overhead))
    print()
    for verdict in verdicts:
        state = "met" if verdict["met"] else "NOT met"
        value = verdict["value"]
        if not isinstance(value, float):
            shown = "not measured"
        elif verdict["concurrency"] == THROUGHPUT_CONCURRENCY:
            shown = f"{value:.0%}"
        else:
            shown = f"{value:+.3f} ms"
        print(
            f"Target, {verdict['layout']}, {str(verdict['protocol']).upper()} "
            f"c={verdict['concurrency']}: "
            f"{verdict['measure']} {verdict['target']} -> {state} ({shown})"
        )
    print(
        "The load generator (wrk, C, its own process) used at most "
        f"{max(_cpu(cell, 'loadgen_cores') for cell in cells):.2f} cores in any cell."
    )
