"""What every admin command shares: `--scheduler`, `--json`, and errors turned into exit codes.

`admin_command` is the one place that maps the client's exceptions to `error: ...` lines and
exit statuses, so no command shows a traceback for an expected failure and all of them agree on
what 1 and 2 mean.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from loadmaster.cli.output import EXIT_FAILURE, EXIT_USAGE, error
from loadmaster.client import DEFAULT_SCHEDULER, ENV_SCHEDULER, AdminClient, AdminError, InvalidSpec
from loadmaster.local_cluster.current import current_admin, current_path
from loadmaster.local_cluster.discovery import scheduler_address
from loadmaster.resources import ResourceError

AdminRun = Callable[[AdminClient, argparse.Namespace], int]


class CommandFailed(Exception):
    """Raised by a command for an expected failure with its own message and exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def add_admin_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        metavar="HOST:PORT",
        help=f"the scheduler's admin address (default: ${ENV_SCHEDULER}, else the local "
        f"cluster `loadmaster up` started while its scheduler runs, else {DEFAULT_SCHEDULER})",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_resource_files(p: argparse.ArgumentParser, kind: str) -> None:
    """`-f/--filename FILE` (repeatable) into `args.files`: YAML documents of `kind`."""
    p.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        required=True,
        metavar="FILE",
        help=f"a YAML file of {kind} documents, a directory of them, or - for stdin; repeat "
        "for more",
    )


def admin_command(fn: AdminRun) -> Callable[[argparse.Namespace], int]:
    """`fn` with a client for `--scheduler`, its expected failures printed and mapped."""

    def run(args: argparse.Namespace) -> int:
        args.scheduler = scheduler_address(
            args.scheduler, os.environ, lambda: current_admin(current_path())
        )
        try:
            with AdminClient(args.scheduler) as client:
                return fn(client, args)
        except ResourceError as exc:
            for problem in exc.problems:
                error(problem)
            return EXIT_USAGE
        except InvalidSpec as exc:
            error(exc.message)
            return EXIT_USAGE
        except AdminError as exc:
            error(exc.message)
            return EXIT_FAILURE
        except CommandFailed as exc:
            error(str(exc))
            return exc.status
        except KeyboardInterrupt:
            return 130

    return run
