"""The JSON schema of a plan, generated from the records (``config/workflow.schema.json``).

``make docs`` writes it with ``python -m replication.workflow schema``; a test fails when the
committed file drifts from :class:`~replication.workflow.records.Plan`. It describes the plan
files as written, so a data set may be null (it removes one an earlier file defined).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from replication.workflow.records import Plan

DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _PlanSchema(GenerateJsonSchema):
    """Pydantic's generator, without made-up field titles and with null first in ``anyOf``."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        """Never: a key's name is its title."""
        return False

    def nullable_schema(self, schema: Any) -> JsonSchemaValue:
        """``anyOf: [null, X]``: a null is accepted before ``X`` is tried.

        ``snakemake.utils.validate`` fills in defaults while it validates, and would fill an
        object's defaults into a null (``generate: null``) were the object tried first.
        """
        inner = self.generate_inner(schema["schema"])
        null = {"type": "null"}
        return null if inner == null else self.get_union_of_schemas([null, inner])


def plan_schema() -> str:
    """JSON schema of a plan file, as text with a trailing newline."""
    schema = Plan.model_json_schema(schema_generator=_PlanSchema)
    return json.dumps({"$schema": DIALECT, **schema}, indent=2) + "\n"
