"""Experiment configuration: frozen, validated records loaded from YAML plus ``--set`` overrides.

The leaf of the package: it imports nothing else of the suite. ``sections`` holds the records,
``rules`` the cross-key checks, ``load`` the YAML and override reader, ``diff`` the comparison
of a stored config with a new one, ``docs`` the generated key reference and JSON schema.
"""

from replication.config.diff import config_diff
from replication.config.errors import ConfigError
from replication.config.load import (
    config_source,
    load_config,
    parse_override,
    read_yaml,
    validate_config,
)
from replication.config.sections import (
    DataConfig,
    ModelConfig,
    MultigridConfig,
    RunConfig,
    SolverConfig,
    TestConfig,
    TrainConfig,
)

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "MultigridConfig",
    "RunConfig",
    "SolverConfig",
    "TestConfig",
    "TrainConfig",
    "config_diff",
    "config_source",
    "load_config",
    "parse_override",
    "read_yaml",
    "validate_config",
]
