"""The generated key reference and JSON schema are committed and current."""

from __future__ import annotations

import json

import jsonschema
import pytest
from shared import CHARADES_MG, K400_BASE, K400_MG, ROOT, SSV2_MG

from replication.config import RunConfig, read_yaml
from replication.config.docs import config_reference, config_schema


def test_reference_is_current():
    assert (ROOT / "config/README.md").read_text() == config_reference(), "run `make docs`"


def test_schema_is_current():
    assert (ROOT / "config/experiment.schema.json").read_text() == config_schema(), (
        "run `make docs`"
    )


def test_every_key_is_documented():
    text = config_reference()
    for section, field in RunConfig.model_fields.items():
        for name, sub in field.annotation.model_fields.items():
            assert f"`{section}.{name}`" in text
            assert sub.description, f"{section}.{name} has no description"


@pytest.mark.parametrize("path", [K400_BASE, K400_MG, SSV2_MG, CHARADES_MG])
def test_schema_accepts_shipped_configs(path):
    schema = json.loads(config_schema())
    jsonschema.validate(read_yaml(path), schema)


def test_schema_rejects_unknown_and_mistyped_keys():
    schema = json.loads(config_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"data": {"num_frame": 8}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"solver": {"max_epoch": -1}}, schema)
