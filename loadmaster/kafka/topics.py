"""Topic names (brief §6): `<prefix>.<namespace>.model.<name>.inputs|outputs`,
`<prefix>.<namespace>.pipeline.<name>.inputs|outputs` and one `<prefix>.<namespace>.errors`.

Model topics are shared by every pipeline that uses the model; records carry the pipeline and
step in headers (see `records`). Model and pipeline names are DNS-1123 labels, which are valid
Kafka topic characters, so names need no escaping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from loadmaster.kafka.config import KafkaConfig


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    namespace: str

    @classmethod
    def of(cls, config: KafkaConfig) -> Topics:
        return cls(config.prefix, config.namespace)

    @property
    def base(self) -> str:
        return f"{self.prefix}.{self.namespace}"

    @property
    def errors(self) -> str:
        return f"{self.base}.errors"

    def model_inputs(self, model: str) -> str:
        return f"{self.base}.model.{model}.inputs"

    def model_outputs(self, model: str) -> str:
        return f"{self.base}.model.{model}.outputs"

    def pipeline_inputs(self, pipeline: str) -> str:
        return f"{self.base}.pipeline.{pipeline}.inputs"

    def pipeline_outputs(self, pipeline: str) -> str:
        return f"{self.base}.pipeline.{pipeline}.outputs"

    def of_pipeline(self, pipeline: str, models: Iterable[str]) -> tuple[str, ...]:
        """Every topic a pipeline's requests pass through, in the order they pass."""
        names = [self.pipeline_inputs(pipeline)]
        for model in models:
            names += [self.model_inputs(model), self.model_outputs(model)]
        names += [self.pipeline_outputs(pipeline), self.errors]
        return tuple(dict.fromkeys(names))
