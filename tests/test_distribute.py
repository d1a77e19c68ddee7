"""distribute.py without a cluster: TF_CONFIG checks, the chief's and a worker's writing, the lost-worker line."""

import json

import pytest

from autorecon_tf import distribute
from autorecon_tf.compat import tf
from autorecon_tf.errors import ClusterError, UserError

from conftest import make_tiny_teacher
from helpers import assert_user_error, run_tool, save_normalised_teacher


@pytest.mark.parametrize(
    "value, words",
    [
        (None, "needs TF_CONFIG"),
        ("{not json", "TF_CONFIG is not JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "needs a 'cluster' and a 'task'"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "is not in its cluster"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "is not in its cluster"),
    ],
)
def test_a_missing_or_malformed_tf_config_is_one_line(monkeypatch, value, words):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(UserError, match=words) as error:
        distribute.cluster_spec()
    assert "\n" not in str(error.value) and "TF_CONFIG" in str(error.value)


def test_tf_config_names_the_task(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", distribute.tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1))
    assert distribute.cluster_spec() == ({"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "worker", 1)
    assert json.loads(distribute.tf_config(["h:1"], 0))["task"] == {"type": "worker", "index": 0}


def test_the_tool_names_a_missing_tf_config(tmp_path):
    teacher = save_normalised_teacher(make_tiny_teacher(), tmp_path / "teacher.keras")
    result = run_tool(
        "search",
        "--config=configs/search_tiny.py",
        f"--teacher={teacher}",
        f"--workdir={tmp_path}/run",
        "--strategy=multiworker",
        TF_CONFIG="",
    )
    assert_user_error(result, "--strategy=multiworker needs TF_CONFIG")
    assert not (tmp_path / "run").exists()


def test_one_process_is_the_chief_and_writes_into_its_workdir(tmp_path):
    strategy = tf.distribute.get_strategy()
    assert distribute.is_chief(strategy) and distribute.task_id(strategy) == 0
    with distribute.write_dir(str(tmp_path), strategy) as out:
        assert out == str(tmp_path)
    checkpoint = tf.train.Checkpoint(step=tf.Variable(3))
    manager = distribute.checkpoint_manager(checkpoint, str(tmp_path / "checkpoints"), 1, str(tmp_path))
    assert isinstance(manager, tf.train.CheckpointManager)


def test_a_worker_saves_into_scratch_and_restores_the_chiefs(tmp_path):
    step = tf.Variable(3)
    checkpoint = tf.train.Checkpoint(step=step)
    tf.train.CheckpointManager(checkpoint, str(tmp_path / "checkpoints"), 1).save(checkpoint_number=1)
    worker = distribute._WorkerCheckpointManager(checkpoint, str(tmp_path / "checkpoints"), str(tmp_path / "scratch"))
    step.assign(7)
    worker.save(checkpoint_number=2)
    assert not (tmp_path / "scratch").exists(), "a worker's save is deleted at once"
    assert worker.latest_checkpoint.endswith("ckpt-1")  # the chief's, untouched
    checkpoint.restore(worker.latest_checkpoint)
    assert int(step.numpy()) == 3


def test_a_lost_peer_becomes_one_line_naming_it(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", distribute.tf_config(["127.0.0.1:1", "127.0.0.1:2"], 0))
    message = (
        "{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/replica:0/task:0/device:CPU:0}} "
        "Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are unhealthy"
    )
    with pytest.raises(ClusterError, match="lost worker 1 \\(UnavailableError\\): relaunch") as error:
        with distribute.worker_failures("multiworker", "runs/x"):
            raise tf.errors.UnavailableError(None, None, message)
    assert "runs/x/checkpoints" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(tf.errors.UnavailableError):  # one process: not a cluster's problem, left alone
        with distribute.worker_failures("default", "runs/x"):
            raise tf.errors.UnavailableError(None, None, message)
