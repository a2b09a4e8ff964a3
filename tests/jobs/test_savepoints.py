"""What a start does with the savepoint it resumes from, by what the savepoint holds
(the end-to-end case of a metric change is in test_metering.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aforo.settings import load_settings
from jobs.savepoints import (
    SavepointMismatch,
    latest_savepoint,
    record_job,
    remember,
    restore_config,
    window_generation,
    windows_changed,
)

SOURCE, DEDUP, TOTALS = "source `usage_events`", "deduplicate", "over-aggregate"
WINDOW_OLD, WINDOW_NEW = "group-window-aggregate 1f2e", "group-window-aggregate 9a8b"
OLD = {"1": SOURCE, "2": DEDUP, "3": TOTALS, "4": WINDOW_OLD}
NEW_METRIC = {"1": SOURCE, "2": DEDUP, "3": TOTALS, "5": WINDOW_NEW}


def _savepoint(tmp_path: Path, nodes: dict[str, str], drained: bool, generation: int = 0) -> str:
    """A stop of a job with `nodes`, as the runner records it; returns the location."""
    config = tmp_path / "aforo.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    config.write_text(f"home: {tmp_path / 'home'}\n")
    settings = load_settings(config, environ={})
    folder = settings.home / "savepoints" / "savepoint-0a1b2c"
    folder.mkdir(parents=True)
    (folder / "_metadata").write_bytes(b"flink's")
    record_job(settings, "c0ffee", nodes, generation)
    remember(settings, folder.as_uri(), "c0ffee", drained=drained)
    assert latest_savepoint(settings) == folder.as_uri()
    return folder.as_uri()


def test_the_same_stateful_nodes_restore_everything(tmp_path: Path) -> None:
    assert restore_config(_savepoint(tmp_path, OLD, drained=False), OLD) == {}


def test_new_metrics_after_a_drained_stop_leave_only_the_hourly_aggregation_behind(tmp_path: Path) -> None:
    location = _savepoint(tmp_path, OLD, drained=True)
    assert restore_config(location, NEW_METRIC) == {
        "execution.state-recovery.ignore-unclaimed-state": "true"}


def test_new_metrics_after_a_stop_without_draining_are_refused_with_the_way_out(tmp_path: Path) -> None:
    location = _savepoint(tmp_path, OLD, drained=False)
    with pytest.raises(SavepointMismatch, match="without draining") as refused:
        restore_config(location, NEW_METRIC)
    assert "aforo job stop --drain" in str(refused.value) and location in str(refused.value)


def test_any_other_state_left_behind_is_refused(tmp_path: Path) -> None:
    location = _savepoint(tmp_path, OLD, drained=True)
    without_totals = {k: v for k, v in NEW_METRIC.items() if v != TOTALS}
    with pytest.raises(SavepointMismatch, match="over-aggregate") as refused:
        restore_config(location, without_totals)
    assert "--fresh" in str(refused.value)


def test_a_savepoint_without_aforo_job_json_is_left_to_flink(tmp_path: Path) -> None:
    folder = tmp_path / "savepoint-by-hand"
    folder.mkdir()
    assert restore_config(folder.as_uri(), NEW_METRIC) == {}


def test_a_drained_stop_gives_the_next_start_new_hourly_aggregations(tmp_path: Path) -> None:
    """A drained stop leaves the windows' watermark at the end of time, which the window table
    function would restore and then drop every event: the next start numbers the hourly
    aggregations anew (the next window generation) and leaves their state behind."""
    for generation in (0, 1):
        drained = _savepoint(tmp_path / f"a{generation}", OLD, drained=True, generation=generation)
        settings = load_settings(tmp_path / f"a{generation}" / "aforo.yaml", environ={})
        assert window_generation(settings, drained) == (1 - generation, False)
    kept = _savepoint(tmp_path / "b", OLD, drained=False, generation=1)
    assert window_generation(load_settings(tmp_path / "b" / "aforo.yaml", environ={}), kept) == (1, True)
    # the same roles under new ids: no change of metrics to announce
    assert not windows_changed(drained, {"1": SOURCE, "2": DEDUP, "3": TOTALS, "7": WINDOW_OLD})
    assert windows_changed(drained, NEW_METRIC)


def test_a_retained_checkpoint_resumes_in_its_jobs_window_generation(tmp_path: Path) -> None:
    config = tmp_path / "aforo.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\n")
    settings = load_settings(config, environ={})
    record_job(settings, "c0ffee", OLD, 1)
    checkpoint = settings.home / "checkpoints" / "c0ffee" / "chk-7"
    checkpoint.mkdir(parents=True)
    assert window_generation(settings, checkpoint.as_uri()) == (1, True)
    assert window_generation(settings, (settings.home / "checkpoints" / "gone" / "chk-1").as_uri()) == (0, True)
