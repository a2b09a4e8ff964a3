"""What a start does with the savepoint it resumes from, by what the savepoint holds
(the end-to-end case of a metric change is in test_metering.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aforo.settings import load_settings
from jobs.savepoints import SavepointMismatch, latest_savepoint, record_job, remember, restore_config

SOURCE, DEDUP, TOTALS = "source `usage_events`", "deduplicate", "over-aggregate"
WINDOW_OLD, WINDOW_NEW = "group-window-aggregate 1f2e", "group-window-aggregate 9a8b"
OLD = {"1": SOURCE, "2": DEDUP, "3": TOTALS, "4": WINDOW_OLD}
NEW_METRIC = {"1": SOURCE, "2": DEDUP, "3": TOTALS, "5": WINDOW_NEW}


def _savepoint(tmp_path: Path, nodes: dict[str, str], drained: bool) -> str:
    """A stop of a job with `nodes`, as the runner records it; returns the location."""
    config = tmp_path / "aforo.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\n")
    settings = load_settings(config, environ={})
    folder = settings.home / "savepoints" / "savepoint-0a1b2c"
    folder.mkdir(parents=True)
    (folder / "_metadata").write_bytes(b"flink's")
    record_job(settings, "c0ffee", nodes)
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
