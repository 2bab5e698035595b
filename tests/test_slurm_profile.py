"""SLURM profiles: strict validation, checks against the config, and against the cluster's nodes."""

from __future__ import annotations

import pytest
from shared import ROOT, TEST_MULTIGRID

from replication.cluster.nodes import Node, check_fits_nodes, parse_sinfo
from replication.cluster.profile import SlurmProfile, check_matches_config, load_profile
from replication.cluster.site_profile import (
    parse_time_limit,
    profile_for,
    read_partition,
    render_profile,
)
from replication.config import ConfigError, load_config


@pytest.mark.parametrize("name", ["local.yaml", "example-gpu-cluster.yaml"])
def test_shipped_profiles_are_valid(name):
    profile = load_profile(ROOT / "slurm" / name)
    assert profile.num_tasks >= 1


def test_example_gpu_profile_fits_the_shipped_8_gpu_configs():
    profile = load_profile(ROOT / "slurm/example-gpu-cluster.yaml")
    cfg = load_config(ROOT / "config/kinetics/slowfast_8x8_r50_multigrid.yaml")
    check_matches_config(profile, cfg, "example")  # no error: 1 node x 8 tasks = num_gpus 8
    assert profile.gpus_per_node == profile.tasks_per_node == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpus_per_tasks: 2\n", "cpus_per_tasks: unknown key (did you mean cpus_per_task?)"),
        ("nodes: '2'\n", "nodes: input should be a valid integer, got '2'"),
        ("mem_gb: -1\n", "mem_gb: input should be greater than or equal to 0, got -1"),
        ("timeout_min: 1\nsignal_delay_s: 60\n", "signal_delay_s: 60 s is not shorter than"),
        ("gpus_per_node: 8\n", "tasks_per_node: one process per GPU: set it to gpus_per_node=8"),
        ("sbatch: {output: x.log}\n", "sbatch.output: is set by the launcher; remove it"),
        ("- a\n", "top level must be a mapping"),
    ],
)
def test_bad_profile_names_file_and_key(write_yaml, text, message):
    path = write_yaml(text, "profile.yaml")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_profile_is_frozen_and_reads_lists():
    profile = SlurmProfile.model_validate({"setup": ["module load cuda"], "sbatch": {"x": True}})
    assert profile.setup == ("module load cuda",)
    with pytest.raises(ValueError, match="frozen"):
        profile.nodes = 2  # type: ignore[misc]


def test_process_count_must_match_num_gpus():
    cfg = load_config(TEST_MULTIGRID)  # train.num_gpus: 1
    with pytest.raises(ConfigError, match=r"1 node\(s\) x 2 task\(s\) = 2 .* train.num_gpus=1"):
        check_matches_config(SlurmProfile(tasks_per_node=2), cfg, "p.yaml")
    check_matches_config(SlurmProfile(), cfg, "p.yaml")


SINFO = "gpu1|64|512000|gpu:a100:8(S:0-1)|gpu\ngpu2|64|512000|gpu:a100:8|gpu\ncpu1|2|23081|(null)|local*\n"


def test_parse_sinfo_picks_the_partition_or_the_default():
    assert [n.name for n in parse_sinfo(SINFO, "gpu")] == ["gpu1", "gpu2"]
    assert parse_sinfo(SINFO, "") == [Node("cpu1", 2, 23081, 0)]
    assert parse_sinfo(SINFO, "gpu")[0].gpus == 8
    assert parse_sinfo(SINFO, "nope") == []


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (SlurmProfile(partition="nope"), "partition: partition 'nope' has no nodes"),
        (SlurmProfile(cpus_per_task=3), "cpus_per_task: 1 task(s) x 3 CPUs = 3 CPUs per node, "),
        (SlurmProfile(mem_gb=100), "mem_gb: 100.0 GB per node, but the largest node"),
        (SlurmProfile(gpus_per_node=1, tasks_per_node=1), "gpus_per_node: 1 GPUs, but"),
        (
            SlurmProfile(partition="gpu", nodes=3, tasks_per_node=8, gpus_per_node=8),
            "nodes: 3 nodes, but only 2 node(s)",
        ),
    ],
)
def test_jobs_no_node_can_run_are_refused(profile, message):
    with pytest.raises(ConfigError) as err:
        check_fits_nodes(profile, parse_sinfo(SINFO, profile.partition), "p.yaml")
    assert str(err.value).startswith(f"p.yaml: {message}")


def test_jobs_that_fit_pass():
    check_fits_nodes(SlurmProfile(cpus_per_task=2, mem_gb=4), parse_sinfo(SINFO, ""), "p")
    gpu = SlurmProfile(partition="gpu", nodes=2, tasks_per_node=8, gpus_per_node=8, mem_gb=400)
    check_fits_nodes(gpu, parse_sinfo(SINFO, "gpu"), "p")


# ------------------------------------------------------------------ the profile writer

GPU_LIMITS = "gpu|2-00:00:00\nlocal*|infinite\n"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("infinite", None), ("30", 30), ("45:00", 45), ("2:30:00", 150), ("1-00:00:00", 1440),
     ("3-12", 3 * 1440 + 720), ("1-02:03", 1440 + 123)],
)  # fmt: skip
def test_time_limits_read_as_slurm_writes_them(text, minutes):
    assert parse_time_limit(text) == minutes


def test_a_gpu_profile_has_one_process_per_gpu_filling_nodes_first():
    part = read_partition("gpu", SINFO, GPU_LIMITS)
    assert (part.name, part.timeout_min, len(part.nodes)) == ("gpu", 2880, 2)
    sixteen = profile_for(part, 16)
    assert (sixteen.nodes, sixteen.tasks_per_node, sixteen.gpus_per_node) == (2, 8, 8)
    assert (sixteen.cpus_per_task, sixteen.mem_gb, sixteen.timeout_min) == (
        8,
        450.0,
        2880,
    )  # 90 % of 500 GiB
    one = profile_for(part, 1)
    assert (one.nodes, one.tasks_per_node, one.gpus_per_node, one.cpus_per_task) == (1, 1, 1, 64)
    with pytest.raises(ConfigError, match="processes: 12 processes do not fill nodes of 8 GPUs"):
        profile_for(part, 12)
    with pytest.raises(ConfigError, match="nodes: 3 nodes, but only 2 node"):
        profile_for(part, 24)


def test_a_cpu_profile_needs_overcommit_for_more_processes_than_cores():
    part = read_partition("", SINFO, GPU_LIMITS)
    assert profile_for(part, 2).tasks_per_node == 2
    with pytest.raises(ConfigError, match="have 2 cores; ask for fewer"):
        profile_for(part, 8)
    over = profile_for(part, 8, overcommit=True)
    assert (over.tasks_per_node, over.cpus_per_task, over.sbatch) == (8, 1, {"overcommit": True})


def test_a_written_profile_loads_and_says_how_it_was_made(tmp_path):
    part = read_partition("gpu", SINFO, GPU_LIMITS)
    path = tmp_path / "p.yaml"
    path.write_text(render_profile(profile_for(part, 8), part, 8))
    assert load_profile(path) == profile_for(part, 8)
    assert "slurm-profile --processes 8" in path.read_text().splitlines()[0]


def test_an_unknown_partition_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"partition 'tpu' has no nodes \(partitions: gpu, local"):
        read_partition("tpu", SINFO, GPU_LIMITS)
