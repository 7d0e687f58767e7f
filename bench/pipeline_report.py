"""What the pipeline benchmark concludes from its cells: overhead per step and the verdicts.

Kept apart from the measuring so the arithmetic (added p50, per-step overhead, throughput
ratio) and the issue's targets sit in one place. A cell with errors is never hidden: its
row says how many, and a verdict that rests on it is "NOT met".

The broker's floor puts the latency figures in proportion: a request over N steps crosses
2N + 2 Kafka hops, so (2N + 2) / N bare hops (`kafka_hop`, measured on the same broker) is
what Kafka alone adds per step before any of our code runs. It is an estimate (p50s do not
add exactly), reported beside the measurement, never in place of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.common import format_table

Cell = dict[str, object]

# The targets for pipelines against the same model calls made directly.
TARGET_STEP_P50_MS, LATENCY_CONCURRENCY = 3.0, 1
TARGET_TWO_STEP_RPS, THROUGHPUT_CONCURRENCY, THROUGHPUT_STEPS = 1000.0, 64, 2


def _num(mapping: dict[str, object], key: str) -> float:
    value = mapping[key]
    if not isinstance(value, int | float):
        raise TypeError(f"{key} is {value!r}, not a number")
    return float(value)


def _cell(cells: Sequence[Cell], steps: int, concurrency: int, side: str) -> Cell:
    for cell in cells:
        if (cell["steps"], cell["concurrency"], cell["side"]) == (steps, concurrency, side):
            return cell
    raise KeyError((steps, concurrency, side))


def _cpu(cell: Cell, key: str) -> float:
    cpu = cell["cpu"]
    return float(cpu.get(key, 0.0)) if isinstance(cpu, dict) else 0.0


def hops_per_request(steps: int) -> int:
    """Kafka hops a request over `steps` steps crosses: in, two per step, out."""
    return 2 * steps + 2


def summarise(
    cells: Sequence[Cell], hops: Sequence[dict[str, object]] = ()
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Per (steps, concurrency): pipeline against direct, with the broker's floor per step
    where a bare hop was measured for that N; then the target verdicts."""
    hop_p50 = {int(_num(h, "steps")): _num(h, "p50_ms") for h in hops}
    keys = list(dict.fromkeys((int(str(c["steps"])), int(str(c["concurrency"]))) for c in cells))
    rows: list[dict[str, object]] = []
    for steps, concurrency in keys:
        direct = _cell(cells, steps, concurrency, "direct")
        pipe = _cell(cells, steps, concurrency, "pipeline")
        added = _num(pipe, "p50_ms") - _num(direct, "p50_ms")
        direct_rps, pipe_rps = _num(direct, "throughput_rps"), _num(pipe, "throughput_rps")
        hop = hop_p50.get(steps) if concurrency == LATENCY_CONCURRENCY else None
        floor = hop * hops_per_request(steps) / steps if hop is not None else None
        rows.append(
            {
                "steps": steps,
                "concurrency": concurrency,
                "direct_p50_ms": _num(direct, "p50_ms"),
                "pipeline_p50_ms": _num(pipe, "p50_ms"),
                "added_p50_ms": round(added, 3),
                "added_p50_per_step_ms": round(added / steps, 3),
                "broker_floor_per_step_ms": round(floor, 3) if floor is not None else None,
                "direct_p99_ms": _num(direct, "p99_ms"),
                "pipeline_p99_ms": _num(pipe, "p99_ms"),
                "direct_rps": direct_rps,
                "pipeline_rps": pipe_rps,
                "throughput_ratio": round(pipe_rps / direct_rps, 3) if direct_rps else None,
                "direct_errors": int(_num(direct, "errors")),
                "pipeline_errors": int(_num(pipe, "errors")),
            }
        )
    return rows, verdicts(rows)


def verdicts(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for row in rows:
        errors = int(_num(row, "direct_errors")) + int(_num(row, "pipeline_errors"))
        if row["concurrency"] == LATENCY_CONCURRENCY:
            value = _num(row, "added_p50_per_step_ms")
            found.append(
                {
                    "steps": row["steps"],
                    "concurrency": LATENCY_CONCURRENCY,
                    "measure": "p50 overhead per step (ms)",
                    "value": value,
                    "target": f"<= {TARGET_STEP_P50_MS:g}",
                    "errors": errors,
                    "met": errors == 0 and value <= TARGET_STEP_P50_MS,
                }
            )
        if row["concurrency"] == THROUGHPUT_CONCURRENCY and row["steps"] == THROUGHPUT_STEPS:
            value = _num(row, "pipeline_rps")
            found.append(
                {
                    "steps": THROUGHPUT_STEPS,
                    "concurrency": THROUGHPUT_CONCURRENCY,
                    "measure": "two-step pipeline req/s",
                    "value": value,
                    "target": f">= {TARGET_TWO_STEP_RPS:g}",
                    "errors": int(_num(row, "pipeline_errors")),
                    "met": int(_num(row, "pipeline_errors")) == 0 and value >= TARGET_TWO_STEP_RPS,
                }
            )
    return found


def _cell_row(cell: Cell) -> list[str]:
    errors = int(_num(cell, "errors"))
    kinds = cell.get("error_kinds")
    shown = str(errors) if not errors else f"{errors} {kinds}"
    return [
        str(cell["steps"]),
        str(cell["concurrency"]),
        str(cell["side"]),
        f"{_num(cell, 'throughput_rps'):.0f}",
        f"{_num(cell, 'p50_ms'):.2f}",
        f"{_num(cell, 'p90_ms'):.2f}",
        f"{_num(cell, 'p99_ms'):.2f}",
        shown,
        *(f"{_cpu(cell, k):.2f}" for k in ("driver", "gateway", "agent", "workers", "broker")),
        f"{_cpu(cell, 'machine'):.2f}",
        f"{_cpu(cell, 'other'):.2f}" + ("*" if cell.get("disturbed") else ""),
    ]


def _floor(row: dict[str, object]) -> str:
    floor = row.get("broker_floor_per_step_ms")
    return f"+{float(str(floor)):.2f}" if floor is not None else "-"


def print_report(
    cells: Sequence[Cell],
    rows: Sequence[dict[str, object]],
    found: Sequence[dict[str, object]],
    machine: dict[str, object],
    settings: dict[str, object],
    hops: Sequence[dict[str, object]] = (),
) -> None:
    headers = [
        "N", "conc", "side", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "driver",
        "gateway", "agent", "workers", "broker", "machine", "other",
    ]  # fmt: skip
    print()
    print(
        f"Pipelines of N identity steps against N direct calls through the gateway, [1,32] "
        f"FP32 (CPU columns in cores, of {machine.get('cpus')})"
    )
    print(format_table(headers, [_cell_row(cell) for cell in cells]))
    if any(cell.get("disturbed") for cell in cells):
        print("* other work on the machine used more than 0.25 cores during this cell")
    for cell in cells:
        if cell.get("errors"):
            print(
                f"errors, N={cell['steps']} c={cell['concurrency']} {cell['side']}: "
                f"{cell.get('error_kinds')}; e.g. {cell.get('error_samples')}"
            )
    print()
    table = [
        [
            str(row["steps"]),
            str(row["concurrency"]),
            f"{_num(row, 'direct_p50_ms'):.2f}",
            f"{_num(row, 'pipeline_p50_ms'):.2f}",
            f"{_num(row, 'added_p50_ms'):+.2f}",
            f"{_num(row, 'added_p50_per_step_ms'):+.2f}",
            _floor(row),
            f"{_num(row, 'direct_p99_ms'):.2f}",
            f"{_num(row, 'pipeline_p99_ms'):.2f}",
            f"{_num(row, 'direct_rps'):.0f}",
            f"{_num(row, 'pipeline_rps'):.0f}",
            f"{row['throughput_ratio']:.0%}" if row["throughput_ratio"] is not None else "-",
        ]
        for row in rows
    ]
    print(
        "What Kafka adds (added = pipeline - direct; per step = added / N; broker floor = "
        "(2N+2)/N bare hops)"
    )
    print(format_table([
        "N", "conc", "direct p50", "pipe p50", "added p50", "per step", "broker floor",
        "direct p99", "pipe p99", "direct req/s", "pipe req/s", "pipe/direct",
    ], table))  # fmt: skip
    for hop in hops:
        print(
            f"Bare Kafka hop (produce, acknowledged, then fetched by a group consumer; same "
            f"settings) on the N={hop['steps']} broker: p50 {_num(hop, 'p50_ms'):.2f} ms, p90 "
            f"{_num(hop, 'p90_ms'):.2f} ms, of which the produce acknowledgement p50 "
            f"{_num(hop, 'ack_p50_ms'):.2f} ms"
        )
    print()
    idle = cells[-1].get("idle_cpu_before") if cells else None
    if isinstance(idle, dict):
        print(
            "The idle cluster (no requests, just before the last cell), in cores: "
            + ", ".join(f"{k} {v:.2f}" for k, v in idle.items())
        )
    print(f"Cluster: {settings.get('cluster')}")
    kafka = settings.get("kafka")
    if isinstance(kafka, dict):
        print("Kafka: " + ", ".join(f"{k}={v}" for k, v in kafka.items()))
    for verdict in found:
        state = "met" if verdict["met"] else "NOT met"
        value = _num(verdict, "value")
        shown = (
            f"{value:+.2f} ms"
            if verdict["concurrency"] == LATENCY_CONCURRENCY
            else (f"{value:.0f} req/s")
        )
        errors = f", {verdict['errors']} errors" if verdict["errors"] else ""
        print(
            f"Target, N={verdict['steps']} c={verdict['concurrency']}: {verdict['measure']} "
            f"{verdict['target']} -> {state} ({shown}{errors})"
        )
    print(
        "The load driver (its own process) used at most "
        f"{max(_cpu(cell, 'driver') for cell in cells):.2f} cores in any cell; the direct "
        "side makes N HTTP calls per request, the pipeline side one."
    )
