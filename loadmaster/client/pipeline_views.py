"""Pipeline status as a plain JSON-ready dict: the stable shape behind `-o json` and scripts.

As in `views`, keys are camelCase and fixed here; the spec comes back in the YAML's own field
names (`inputsJoinType`, `tensorMap`, `stepsJoin` ...), so what status prints can be read
against the document that was loaded. An empty join type on the wire reads as inner, the
default it stands for.
"""

from __future__ import annotations

from loadmaster.client.views import JsonDict
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources import JoinType


def pipeline_status_json(resp: admin_pb2.PipelineStatusResponse) -> JsonDict:
    return {
        "name": resp.name,
        "version": resp.version,
        "state": resp.state,
        "reason": resp.reason,
        "steps": [
            {"name": s.name, "model": s.model, "modelState": s.model_state, "ready": s.ready}
            for s in resp.steps
        ],
        "spec": pipeline_spec_json(resp.spec),
    }


def pipeline_spec_json(spec: admin_pb2.PipelineSpec) -> JsonDict:
    output = spec.output
    return {
        "steps": [
            {
                "name": s.name,
                "model": s.model,
                "inputs": list(s.inputs),
                "tensorMap": dict(sorted(s.tensor_map.items())),
                "inputsJoinType": s.inputs_join or JoinType.INNER.value,
                "joinWindowMs": s.join_window_ms,
                "triggers": list(s.triggers),
                "triggersJoinType": s.triggers_join or JoinType.INNER.value,
            }
            for s in spec.steps
        ],
        "output": {
            "steps": list(output.steps),
            "tensorMap": dict(sorted(output.tensor_map.items())),
            "stepsJoin": output.steps_join or JoinType.INNER.value,
            "joinWindowMs": output.join_window_ms,
        },
        "keepTopics": spec.keep_topics,
    }
