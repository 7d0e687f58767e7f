"""Pipelines over Kafka (brief §6): the pipeline gateway, the dataflow and the model workers."""
