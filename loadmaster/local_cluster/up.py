"""`loadmaster up` from checks to shutdown: the one place that wires the modules together.

Everything that can be refused is refused before the first process starts: another `up` on
the same data dir, a cluster from this dir still running, a busy fixed port, a missing binary.
Then the launcher starts the parts; once all are healthy the record and the "current cluster"
pointer are written and the endpoints shown. Detached, that is the end (the parts run in their
own sessions); in the foreground the parts are watched until a signal or a death stops them.
"""

from __future__ import annotations

import datetime
import fcntl
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from loadmaster.local_cluster.binaries import MissingBinary, find_broker, find_etcd
from loadmaster.local_cluster.current import clear_current, write_current
from loadmaster.local_cluster.launcher import (
    Launcher,
    PartFailed,
    RunningPart,
    StartInterrupted,
    describe_exit,
)
from loadmaster.local_cluster.layout import DataDir
from loadmaster.local_cluster.options import KafkaMode, UpOptions
from loadmaster.local_cluster.parts import agent_names
from loadmaster.local_cluster.plan import ClusterPlan, build_plan
from loadmaster.local_cluster.ports import free_ports, port_is_free, port_problems, ports_in_use
from loadmaster.local_cluster.probes import FreshAdmin, probe_for, tcp_accepts
from loadmaster.local_cluster.processes import find_process, spawn, start_time
from loadmaster.local_cluster.record import (
    BadRecord,
    ClusterRecord,
    PartRecord,
    read_record,
    write_record,
)
from loadmaster.local_cluster.supervisor import StopSignals, supervise

Say = Callable[[str], None]


class Refused(Exception):
    """The cluster cannot start as asked; nothing was started (exit status 2)."""


class Failed(Exception):
    """Starting or running the cluster failed; everything started was stopped (exit 1).
    `log` is the failed part's log file, if one part is to blame."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


def up(
    options: UpOptions,
    current_file: Path,
    say: Say,
    on_ready: Callable[[ClusterRecord], None],
    signals: StopSignals,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Start the cluster; return when detached and healthy, or once a foreground cluster has
    been stopped by a signal. Raises Refused, Failed, or StartInterrupted."""
    layout = DataDir(options.data_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    _refuse_if_running(layout)  # the clearer message when a finished `up` left parts running
    with _exclusive(layout):
        _refuse_if_running(layout)  # again: another `up` may have finished meanwhile
        plan = _plan(options)
        layout.create(agent_names(options.agents))
        book = _Bookkeeper(options, plan, layout)
        admin = FreshAdmin(plan.endpoints["admin"])
        launcher = Launcher(
            plan,
            spawn=lambda part: spawn(part, layout.log(part.name), options.cwd, environ),
            probe=lambda part: probe_for(part.kind, part.name, part.ports, admin),
            save=book.save,
            timeout_s=options.start_timeout_s,
            grace_s=options.stop_grace_s,
            interrupted=signals.requested,
            hurry=signals.hurried,
            say=say,
        )
        try:
            running = launcher.start()
        except PartFailed as exc:
            message = f"{exc.part} failed to start: {exc.reason}; stopped the cluster"
            raise Failed(message, layout.log(exc.part)) from None
        finally:
            admin.close()
        if options.detach:
            book.detach()
        write_current(current_file, options.data_dir)
        on_ready(book.saved)
        if options.detach:
            return
        try:
            _watch(launcher, running, signals, say, layout)
        finally:
            clear_current(current_file, options.data_dir)


def _watch(
    launcher: Launcher,
    running: Sequence[RunningPart],
    signals: StopSignals,
    say: Say,
    layout: DataDir,
) -> None:
    """The foreground: wait for a signal or a death, then stop everything; Failed if a part
    died on its own."""
    died = supervise(running, signals.requested)
    if died is None:
        say("stopping the cluster")
        launcher.stop()
        return
    death = f"{died.plan.name} exited unexpectedly ({describe_exit(died.handle.exit_status())})"
    say(f"{death}; stopping the cluster")
    launcher.stop()
    raise Failed(f"{death}; stopped the cluster", layout.log(died.plan.name))


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def _exclusive(layout: DataDir) -> Iterator[None]:
    """Hold DIR/.lock for as long as this `up` runs; a second `up` on DIR is refused."""
    with layout.lock.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(
                f"another `loadmaster up` is using {layout.root}; stop it first, or choose "
                "another --data-dir"
            ) from None
        yield


def _refuse_if_running(layout: DataDir) -> None:
    try:
        record = read_record(layout.record)
    except BadRecord:
        return  # a broken record describes nothing that runs; it is rewritten below
    if record is None:
        return
    alive = [p.name for p in record.parts if find_process(p.pid, p.started) is not None]
    if alive:
        raise Refused(
            f"a cluster from {layout.root} is already running ({', '.join(alive)}); "
            f"stop it with `loadmaster down --data-dir {layout.root}`, or choose another "
            "--data-dir"
        )


def _plan(options: UpOptions) -> ClusterPlan:
    with_kafka = options.kafka is KafkaMode.LOCAL
    problems = port_problems(options.ports, with_kafka, port_is_free)
    if problems:
        raise Refused("\n".join(problems))
    if options.kafka is KafkaMode.EXTERNAL:
        host, _, port = options.kafka_bootstrap.rpartition(":")
        why = tcp_accepts(int(port), host)
        if why is not None:
            raise Failed(f"--kafka-bootstrap {options.kafka_bootstrap}: {why}")
    try:
        etcd, broker = find_etcd(), find_broker() if with_kafka else None
    except MissingBinary as exc:
        raise Failed(str(exc)) from None
    taken = set(ports_in_use(options.ports, with_kafka).values())
    wanted = 2 * options.agents + options.worker_count
    return build_plan(options, free_ports(wanted, taken), etcd, broker)


class _Bookkeeper:
    """Keeps DIR/cluster.json in step with what runs: written after every spawn and stop."""

    def __init__(self, options: UpOptions, plan: ClusterPlan, layout: DataDir) -> None:
        self._path = layout.record
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        me = os.getpid()
        self.saved = ClusterRecord(
            data_dir=str(options.data_dir),
            cwd=str(options.cwd),
            started_at=now,
            detached=options.detach,
            parts=tuple(PartRecord(p.name, p.kind, dict(p.ports)) for p in plan.parts),
            endpoints=dict(plan.endpoints),
            supervisor_pid=me,
            supervisor_started=start_time(me),
        )

    def save(self, running: Sequence[RunningPart]) -> None:
        pids = {r.plan.name: r.handle.pid for r in running if r.handle.running()}
        record = self.saved.stopped() if not running else self.saved
        for part in record.parts:
            pid = pids.get(part.name)
            started = start_time(pid) if pid is not None else None
            record = record.with_part(PartRecord(part.name, part.kind, part.ports, pid, started))
        self.saved = record
        write_record(self._path, record)

    def detach(self) -> None:
        """The launcher is about to exit and leave the parts running on their own."""
        self.saved = replace(self.saved, supervisor_pid=None, supervisor_started=None)
        write_record(self._path, self.saved)


__all__ = ["Failed", "Refused", "StartInterrupted", "log_tail", "up"]
