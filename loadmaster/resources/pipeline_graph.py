"""The shape of a pipeline as a graph: which step takes from which, cycles, reachability.

Kept apart from the rule messages in `pipeline_check` so the code that runs pipelines (the
dataflow worker's wiring, the scheduler's signature check) reads the same defaults: a step
without inputs takes the pipeline's inputs, an output without steps takes the last step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from loadmaster.resources.pipeline_refs import INPUTS, PIPELINE, TensorRef, parse_ref
from loadmaster.resources.pipeline_spec import PipelineSpec, PipelineStep

PIPELINE_INPUTS = f"{PIPELINE}.{INPUTS}"


def step_inputs(step: PipelineStep) -> tuple[str, ...]:
    """The references a step takes its tensors from, as written; none means pipeline.inputs."""
    return step.inputs or (PIPELINE_INPUTS,)


def output_refs(spec: PipelineSpec) -> tuple[str, ...]:
    """The references the pipeline's answer is made of; none means the last step's outputs."""
    if spec.output.steps:
        return spec.output.steps
    return (spec.steps[-1].name,) if spec.steps else ()


def parsed_refs(texts: Iterable[str]) -> list[TensorRef]:
    """The references of `texts` that parse; the broken ones are left to the checker."""
    refs: list[TensorRef] = []
    for text in texts:
        try:
            refs.append(parse_ref(text))
        except ValueError:
            continue
    return refs


def covers(refs: Iterable[TensorRef], key: TensorRef) -> bool:
    """Whether one of `refs` brings the tensor `key` names (a whole-source ref brings all)."""
    return any(r.source == key.source and (not r.tensor or r.tensor == key.tensor) for r in refs)


def dependencies(spec: PipelineSpec) -> dict[str, list[str]]:
    """For each step, the other known steps it takes inputs or triggers from, each once."""
    known = {s.name for s in spec.steps}
    deps: dict[str, list[str]] = {}
    for step in spec.steps:
        refs = parsed_refs((*step_inputs(step), *step.triggers))
        sources = (r.source for r in refs if r.source in known and r.source != step.name)
        deps.setdefault(step.name, [])
        for source in sources:
            if source not in deps[step.name]:
                deps[step.name].append(source)
    return deps


def find_cycles(deps: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[list[str]]:
    """Cycles among the steps, each once and in the order data would flow, starting at the
    member written first: [a, b] means a feeds b and b feeds a."""
    rank = {name: i for i, name in enumerate(order)}
    done: set[str] = set()
    seen_sets: set[frozenset[str]] = set()
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        path.append(name)
        for source in deps.get(name, ()):
            if source in path:
                members = list(reversed(path[path.index(source) :]))
                first = min(range(len(members)), key=lambda i: rank.get(members[i], 0))
                cycle = members[first:] + members[:first]
                if frozenset(cycle) not in seen_sets:
                    seen_sets.add(frozenset(cycle))
                    cycles.append(cycle)
            elif source not in done:
                visit(source, path)
        path.pop()
        done.add(name)

    for name in order:
        if name not in done:
            visit(name, [])
    return cycles


def unreachable_steps(spec: PipelineSpec) -> list[str]:
    """Steps no request can reach: none of their inputs is pipeline.inputs or a reachable
    step's outputs. Triggers only gate a step, so they do not make it reachable."""
    known = {s.name for s in spec.steps}
    reached: set[str] = set()
    changed = True
    while changed:
        changed = False
        for step in spec.steps:
            if step.name in reached:
                continue
            sources = {r.source for r in parsed_refs(step_inputs(step))}
            if PIPELINE in sources or any(s in reached and s in known for s in sources):
                reached.add(step.name)
                changed = True
    return [s.name for s in spec.steps if s.name not in reached]
