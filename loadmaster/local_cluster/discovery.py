"""Which scheduler an admin command talks to when `--scheduler` is not given.

In order: the `--scheduler` flag, `$LOADMASTER_SCHEDULER`, the current local cluster's admin
address (only while its scheduler process is alive, so a stopped cluster never shadows the
default), then 127.0.0.1:9004. The first two are explicit choices and always win; the last two
make `loadmaster up --detach` followed by `loadmaster model list` just work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from loadmaster.client import DEFAULT_SCHEDULER, ENV_SCHEDULER


def scheduler_address(
    flag: str | None,
    environ: Mapping[str, str],
    current_admin: Callable[[], str | None],
) -> str:
    if flag:
        return flag
    from_env = environ.get(ENV_SCHEDULER)
    if from_env:
        return from_env
    return current_admin() or DEFAULT_SCHEDULER
