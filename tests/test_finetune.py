"""Fine-tuning from another run's weights (``train.init_weights``) on tiny models (CPU)."""

from __future__ import annotations

import pytest
import torch

from replication.config import ConfigError
from replication.engine.checkpoint import load_checkpoint
from replication.engine.init_weights import classifier_keys, load_init_weights, weights_file
from replication.engine.loop import train
from replication.engine.network import build_network
from replication.io import RunPaths
from replication.io import events as ev
from replication.model import normal_state_dict, set_bn_mode
from replication.schedule import build_schedule


@pytest.fixture(scope="module")
def source_run(tiny_config, tmp_path_factory):
    """A finished tiny run (4 classes): the weights fine-tunes start from."""
    run_dir = tmp_path_factory.mktemp("source") / "run"
    train(tiny_config(), run_dir, progress=False)
    return run_dir


def _network(cfg, classes):
    torch.manual_seed(1)  # another init than the source's seed 0
    return build_network(cfg, classes, False, torch.device("cpu"))


def test_a_finished_run_folder_names_its_last_checkpoint(source_run):
    assert weights_file(str(source_run)) == RunPaths(source_run).latest_checkpoint()


def test_weights_load_except_a_classifier_of_another_class_count(tiny_config, source_run):
    cfg = tiny_config("model.num_classes=6")
    net = _network(cfg, 6)
    fresh = {k: v.clone() for k, v in normal_state_dict(net.model).items()}
    report = load_init_weights(net.model, str(source_run))
    source = load_checkpoint(weights_file(str(source_run))).model
    head = classifier_keys(net.model)
    assert head and set(report.kept_new) == head
    loaded = normal_state_dict(net.model)
    for key, value in loaded.items():
        expected = fresh[key] if key in head else source[key]
        assert torch.equal(value, expected), key
    assert loaded[sorted(head)[0]].shape[0] == 6
    assert report.loaded == len(loaded) - len(head)


def test_bn_statistics_reach_a_model_in_sub_batch_bn_mode(tiny_config, source_run):
    cfg = tiny_config()
    net = _network(cfg, 4)
    plan = next(p for p in build_schedule(cfg).epochs if p.bn.kind == "sub")
    set_bn_mode(net.model, plan.bn, 1)
    report = load_init_weights(net.model, str(source_run))
    assert report.kept_new == ()  # same class count: the classifier loads too
    source = load_checkpoint(weights_file(str(source_run))).model
    for key, value in normal_state_dict(net.model).items():
        assert torch.allclose(value.float(), source[key].float()), key


def test_fine_tune_trains_and_logs_where_its_weights_came_from(tiny_config, source_run, tmp_path):
    cfg = tiny_config("model.num_classes=6", f"train.init_weights={source_run}")
    summary = train(cfg, tmp_path / "ft", progress=False)
    start = ev.read_events(tmp_path / "ft" / "events.jsonl")[0]
    assert start["event"] == ev.RUN_START
    assert start["init_weights"]["path"] == str(weights_file(str(source_run)))
    assert len(start["init_weights"]["kept_new"]) == 2  # classifier weight and bias
    assert start["config"]["train"]["init_weights"] == str(source_run)
    assert summary["metrics"]["videos"] > 0


def test_a_resumed_fine_tune_continues_from_its_own_checkpoint(
    tiny_config, source_run, tmp_path, monkeypatch
):
    """Resume wins over init_weights: reloading the source would throw the progress away."""
    cfg = tiny_config(f"train.init_weights={source_run}")
    train(cfg, tmp_path / "ft", progress=False)
    (tmp_path / "ft" / "summary.json").unlink()  # as if the job died after its last checkpoint
    calls = []
    monkeypatch.setattr("replication.engine.setup.load_init_weights", lambda *a: calls.append(a))
    train(cfg, tmp_path / "ft", progress=False)
    assert calls == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp, src: tmp / "nowhere", "no such run folder or checkpoint file"),
        (lambda tmp, src: tmp, "the run has not finished (no summary.json)"),
    ],
    ids=["missing", "unfinished"],
)
def test_a_source_that_cannot_start_a_run_is_one_line(tiny_config, source_run, tmp_path, make,
                                                      message):  # fmt: skip
    spec = str(make(tmp_path, source_run))
    with pytest.raises(ConfigError, match=r"train\.init_weights") as err:
        train(tiny_config(f"train.init_weights={spec}"), tmp_path / "ft", progress=False)
    assert message in str(err.value) and spec in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "ft").exists()  # failed before anything was written


def test_another_backbone_width_is_refused_naming_the_tensor(tiny_config, source_run):
    net = _network(tiny_config("model.width=16"), 4)
    with pytest.raises(ConfigError, match=r"has shape .* there and .* here"):
        load_init_weights(net.model, str(source_run))
