"""Helpers of the --strategy=multiworker tests: 2 worker processes on 127.0.0.1 (1 CPU device each).

The tests are split by tool (tests/test_multiworker_compress.py, tests/test_multiworker_search.py) so that
pytest-xdist's ``--dist=loadfile`` can run the two slowest tests of the suite on different workers.

Each test starts both workers with their own ``TF_CONFIG`` (free ports) and the same command, as
README's "Scaling out" tells a user to, and checks: both finish; only the chief writes (the
workdir holds the chief's artifacts, a worker's scratch directory is gone, its stdout has one
line); the loss curve is the single-process one; after a SIGKILL of one worker the other stops
with one line (exit 3), and relaunching both resumes from the last checkpoint, losing at most
the epoch that was running.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from autorecon_tf.distribute import local_workers, tf_config

from helpers import REPO, tool_env

TIMEOUT = 900
# Per-epoch losses of the 2-worker run against the one-process run on 2 CPU devices: the same global batch split
# the same way (batch k's first half on worker/device 0), so each replica does the same arithmetic on the same
# numbers, one thread each (config.deterministic), and an all-reduce of 2 terms is the same sum in either order.
# Measured here: bit-identical curves and student weights (weights_digest). 1e-5 relative leaves room for a
# reduction that splits the gradient differently and nothing more; a wrong split (one device, BatchNorm
# statistics over 8 images instead of 4) moves the losses by 1-4% (bns, generator_ce, student_ce; measured).
LOSS_RTOL = 1e-5


def run_one_process(command):
    """The reference: ``command`` in one process (2 CPU devices, MirroredStrategy), which must succeed."""
    single = subprocess.run(command, cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert single.returncode == 0, single.stderr[-3000:]


def start_workers(command, directory, ports=None):
    """Starts ``command`` as the 2 workers of a cluster on 127.0.0.1; returns their Popen (files in ``directory``)."""
    workers = [f"127.0.0.1:{port}" for port in ports] if ports else local_workers(2)
    processes = []
    for index in range(len(workers)):
        scratch = os.path.join(directory, f"tmp{index}")  # the worker's TMPDIR: its scratch directory goes here
        os.makedirs(scratch, exist_ok=True)
        env = tool_env(TF_CONFIG=tf_config(workers, index), TMPDIR=scratch, CUDA_VISIBLE_DEVICES="")
        out = open(os.path.join(directory, f"out{index}.log"), "w", encoding="utf-8")  # noqa: SIM115
        err = open(os.path.join(directory, f"err{index}.log"), "w", encoding="utf-8")  # noqa: SIM115
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err)
        process.logs, process.ports = (out, err), ports or [int(w.rsplit(":", 1)[1]) for w in workers]
        processes.append(process)
    return processes


def finish(processes, timeout=TIMEOUT):
    """Waits for every worker; returns ``[(returncode, stdout, stderr)]``."""
    results = []
    for process in processes:
        try:
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
        for handle in process.logs:
            handle.close()
        out, err = (open(handle.name, encoding="utf-8").read() for handle in process.logs)
        results.append((process.returncode, out, err))
    return results


def assert_both_finished(results):
    for index, (status, out, err) in enumerate(results):
        assert status == 0, (index, out[-2000:], err[-3000:])


def assert_only_the_chief_wrote(directory, results):
    worker_lines = [line for line in results[1][1].splitlines() if line.strip()]
    assert worker_lines == ["worker 1 of 2 workers: the chief prints the progress and writes the artifacts"]
    assert os.listdir(os.path.join(directory, "tmp1")) == [], "the worker's scratch directory was left behind"


def epoch_logs(workdir):
    with open(os.path.join(workdir, "progress.json"), encoding="utf-8") as handle:
        return json.load(handle)["epoch_logs"]


def assert_same_curve(curve, reference, keys):
    assert len(curve) == len(reference)
    for epoch, (logs, expected) in enumerate(zip(curve, reference)):
        for key in keys:
            assert logs[key] == pytest.approx(expected[key], rel=LOSS_RTOL), (epoch, key, logs, expected)


def kill_one_at_first_checkpoint(processes, workdir, victim):
    """SIGKILLs worker ``victim`` once the chief's first checkpoint exists; returns the survivor's result."""
    index = os.path.join(workdir, "checkpoints", "checkpoint")
    deadline = time.time() + TIMEOUT
    while not os.path.exists(index) and all(p.poll() is None for p in processes) and time.time() < deadline:
        time.sleep(0.05)
    assert all(p.poll() is None for p in processes), "a worker ended before the first checkpoint"
    os.kill(processes[victim].pid, signal.SIGKILL)
    started = time.time()
    results = finish(processes, timeout=300)
    assert results[victim][0] == -signal.SIGKILL
    survivor = results[1 - victim]
    # It stops by itself (TensorFlow's heartbeats or the reset connection), within a minute here, not a hang.
    assert time.time() - started < 240
    return survivor


def assert_lost_worker_line(survivor, lost):
    status, _, err = survivor
    assert status == 3, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err[-3000:]
    assert f"lost worker {lost}" in lines[0] and "relaunch the same command on every worker" in lines[0], lines


def kill_and_relaunch(command, workdir, directory, victim, check_killed=None):
    """Starts 2 workers, kills ``victim`` at the first checkpoint, checks the survivor's one line, relaunches both.

    Returns ``(epochs done before the relaunch, the relaunched workers' results)``; both must finish, and only
    the chief may have written. ``check_killed(workdir)`` runs between the kill and the relaunch.
    """
    processes = start_workers(command, directory)
    survivor = kill_one_at_first_checkpoint(processes, workdir, victim=victim)
    assert_lost_worker_line(survivor, lost=victim)
    done_before = json.load(open(os.path.join(workdir, "progress.json"), encoding="utf-8"))["epochs_done"]
    if check_killed is not None:
        check_killed(workdir)
    # The same command. Its own scratch directories: a worker that lost its peer exits at once (status 3), leaving
    # TensorFlow's autograph files in its TMPDIR, as a SIGKILLed one does.
    relaunch = os.path.join(directory, "relaunch")
    results = finish(start_workers(command, relaunch, ports=processes[0].ports))
    assert_both_finished(results)
    assert_only_the_chief_wrote(relaunch, results)
    return done_before, results
