"""Experiment configuration: frozen, validated records loaded from YAML plus ``--set`` overrides."""
