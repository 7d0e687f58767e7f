"""check_pipeline: every rule a Pipeline spec must keep that needs no knowledge of the cluster.

The CLI runs it before sending and the scheduler again on receipt (refusing with
INVALID_ARGUMENT), so a client that skips the CLI hears the same words. Each problem is
`field.path: problem` with the path in the YAML's words (`spec.steps[1].inputs[0]`), and every
problem is reported in one run. What needs the models' declared tensors lives in
`pipeline_tensors.check_tensors`, re-exported here, because only the scheduler knows them.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from loadmaster.resources.names import name_problem
from loadmaster.resources.pipeline_graph import (
    covers,
    dependencies,
    find_cycles,
    output_refs,
    parsed_refs,
    step_inputs,
    unreachable_steps,
)
from loadmaster.resources.pipeline_refs import PIPELINE, TensorRef, parse_ref
from loadmaster.resources.pipeline_spec import JoinType, PipelineSpec, PipelineStep, TensorMap
from loadmaster.resources.pipeline_tensors import ModelTensors, check_tensors

MAX_JOIN_WINDOW_MS = 3_600_000

__all__ = ["MAX_JOIN_WINDOW_MS", "ModelTensors", "check_pipeline", "check_tensors"]


def check_pipeline(spec: PipelineSpec) -> list[str]:
    """Every rule the spec breaks, each as `field.path: problem`; empty when it is valid."""
    problems: list[str] = []
    if (bad_name := name_problem("metadata.name", spec.name)) is not None:
        problems.append(bad_name)
    if not spec.steps:
        problems.append("spec.steps: at least one step is required")
    known = [s.name for s in spec.steps]
    broken: set[str] = set()  # steps with a problem of their own, left out of reachability
    first_at: dict[str, int] = {}
    for index, step in enumerate(spec.steps):
        path = f"spec.steps[{index}]"
        found = _name_problems(path, index, step, first_at)
        found += _step_problems(path, step, known)
        if found:
            broken.add(step.name)
        problems += found
    problems += _output_problems(spec, known)
    cycles = find_cycles(dependencies(spec), known)
    for cycle in cycles:
        problems.append("spec.steps: steps form a cycle: " + " -> ".join([*cycle, cycle[0]]))
    in_cycles = {name for cycle in cycles for name in cycle}
    lost = [n for n in unreachable_steps(spec) if n not in in_cycles and n not in broken]
    if lost:
        problems.append(
            f"spec.steps: not reachable from {PIPELINE}.inputs: {', '.join(lost)} (a step must "
            f"take {PIPELINE}.inputs or the outputs of a step that does)"
        )
    return problems


def _name_problems(
    path: str, index: int, step: PipelineStep, first_at: dict[str, int]
) -> list[str]:
    problems: list[str] = []
    bad_name = name_problem(f"{path}.name", step.name, "step name")
    if bad_name is not None:
        problems.append(bad_name)
    elif step.name == PIPELINE:
        problems.append(
            f"{path}.name: {PIPELINE!r} is reserved for the pipeline's inputs "
            f"({PIPELINE}.inputs); name the step otherwise"
        )
    elif "." in step.name:
        problems.append(
            f"{path}.name: {step.name!r}: a step name may not contain '.', because references "
            "(STEP.outputs.TENSOR) split at the first dot"
        )
    elif step.name in first_at:
        problems.append(
            f"{path}.name: duplicate step {step.name!r} (also spec.steps[{first_at[step.name]}])"
        )
    else:
        first_at[step.name] = index
    bad_model = name_problem(f"{path}.model", step.model, "model name")
    if bad_model is not None:
        problems.append(bad_model)
    return problems


def _step_problems(path: str, step: PipelineStep, known: Sequence[str]) -> list[str]:
    problems: list[str] = []
    for field in ("inputs", "triggers"):
        texts: tuple[str, ...] = getattr(step, field)
        problems += _refs_problems(f"{path}.{field}", texts, known, own=step.name)
    # After a broken reference, "not among the inputs" would only echo it: skip that check.
    takes = None if problems else parsed_refs((*step_inputs(step), *step.triggers))
    # An `any` join passes on one source's tensors only, so sources may share names.
    shared = step.inputs_join is JoinType.ANY
    problems += _map_problems(
        f"{path}.tensorMap", step.tensor_map, takes, "step's inputs or triggers", unique=not shared
    )
    if not shared:
        problems += _collision_problems(
            f"{path}.inputs", step_inputs(step), step.tensor_map, "reach the model"
        )
    problems += _window_problems(f"{path}.joinWindowMs", step.join_window_ms)
    return problems


def _output_problems(spec: PipelineSpec, known: Sequence[str]) -> list[str]:
    output = spec.output
    problems = _refs_problems("spec.output.steps", output.steps, known, own="")
    takes = None if problems else parsed_refs(output_refs(spec))
    shared = output.steps_join is JoinType.ANY
    problems += _map_problems(
        "spec.output.tensorMap", output.tensor_map, takes, "spec.output.steps", unique=not shared
    )
    if not shared:
        problems += _collision_problems(
            "spec.output.steps", output_refs(spec), output.tensor_map, "be in the answer"
        )
    problems += _window_problems("spec.output.joinWindowMs", output.join_window_ms)
    return problems


def _refs_problems(path: str, texts: Sequence[str], known: Sequence[str], own: str) -> list[str]:
    problems: list[str] = []
    first_at: dict[str, int] = {}
    for index, text in enumerate(texts):
        at = f"{path}[{index}]"
        problem = _ref_problem(at, text, known, own)
        if problem is not None:
            problems.append(problem)
        elif text in first_at:
            problems.append(f"{at}: {text!r} is already {path}[{first_at[text]}]")
        else:
            first_at[text] = index
    return problems


def _ref_problem(path: str, text: str, known: Sequence[str], own: str) -> str | None:
    try:
        ref = parse_ref(text)
    except ValueError as exc:
        return f"{path}: {exc}"
    if ref.from_pipeline:
        return None
    if own and ref.source == own:
        return f"{path}: {text!r}: a step cannot take its own outputs"
    if ref.source not in known:
        return f"{path}: {text!r} names no step {ref.source!r} ({_known_hint(ref.source, known)})"
    return None


def _known_hint(name: str, known: Sequence[str]) -> str:
    names = [n for n in known if n]  # a step that did not parse has no name
    listed = "steps: " + (", ".join(names) or "none") + f", or {PIPELINE}.inputs"
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"did you mean {close[0]}? {listed}" if close else listed


def _map_problems(
    path: str,
    tensor_map: TensorMap,
    takes: Sequence[TensorRef] | None,
    what: str,
    *,
    unique: bool = True,
) -> list[str]:
    problems: list[str] = []
    key_of_name: dict[str, str] = {}
    for key, name in tensor_map:
        try:
            ref = parse_ref(key)
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
            continue
        if not ref.tensor:
            problems.append(f"{path}: {key!r} names no tensor; a key names one ({ref.text}.TENSOR)")
        elif takes is not None and not covers(takes, ref):
            problems.append(f"{path}: {key!r} is not among the {what}")
        if not name.strip():
            problems.append(f"{path}: {key!r} maps to an empty name")
        elif unique and name in key_of_name:
            problems.append(
                f"{path}: {key_of_name[name]!r} and {key!r} both map to {name!r}; give each "
                "its own name"
            )
        else:
            key_of_name[name] = key
    return problems


def _collision_problems(
    path: str, texts: Sequence[str], tensor_map: TensorMap, where: str
) -> list[str]:
    """Two named tensors that would arrive under one name (whole-source references need the
    models' signatures, so `check_tensors` judges those)."""
    renamed = dict(tensor_map)
    problems: list[str] = []
    text_of_name: dict[str, str] = {}
    for ref in parsed_refs(texts):
        if not ref.tensor:
            continue
        name = renamed.get(ref.text, ref.tensor)
        if name in text_of_name and text_of_name[name] != ref.text:
            problems.append(
                f"{path}: {text_of_name[name]!r} and {ref.text!r} would both {where} as "
                f"{name!r}; rename one with tensorMap"
            )
        else:
            text_of_name.setdefault(name, ref.text)
    return problems


def _window_problems(path: str, window_ms: int) -> list[str]:
    if 0 <= window_ms <= MAX_JOIN_WINDOW_MS:
        return []
    return [f"{path}: must be from 0 to {MAX_JOIN_WINDOW_MS} (one hour), got {window_ms}"]
