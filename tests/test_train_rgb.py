"""train_rgb.py end to end on tiny shards of build_shards (conftest's `motion_shards`).

Covers: 2 replicas, checkpoints, kill -9 and resume with the same losses,
MultiWorkerMirroredStrategy with two local workers, SIGTERM / Ctrl-C, and bad data
stopping in one line. Runs go through tests/cli.py in this process, except those that
need a process of their own: the 2-replica run (the CPU is split into logical devices
before TensorFlow starts, which this process did long ago; it is also the script's
subprocess smoke test), the runs killed or signalled, and the two workers at once.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import cli
import numpy as np
import pytest
import tensorflow as tf
from runs import TINY, losses

from common.files import REPO_DIR

pytestmark = pytest.mark.slow  # runs a script, or a whole job


def run(script, *args, check=True):
    """`python <script> *args` in this process (tests/cli.py); fails unless it exits with 0
    when `check`."""
    module = script.removesuffix('.py')
    return cli.check(module, *args) if check else cli.run(module, *args)


def run_process(*args):
    """`python train_rgb.py *args` in a process of its own; fails unless it exits with 0."""
    result = subprocess.run(
        [sys.executable, 'train_rgb.py', *args], cwd=REPO_DIR, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise AssertionError(f'train_rgb.py failed:\n{result.stdout}\n{result.stderr[-3000:]}')
    return result


@pytest.fixture(scope='module')
def shards(motion_shards):
    return motion_shards


def test_bad_train_data_stops_with_one_line(tmp_path):
    cases = {
        'no files': ('train_rgb.py', str(tmp_path / 'none-*.tfrecord'), 'no files match'),
        'not TFRecord': ('train_rgb.py', str(tmp_path / 'x.tfrecord'), 'not a TFRecord file'),
    }
    (tmp_path / 'x.tfrecord').write_text('hello, I am text')
    for name, (script, pattern, message) in cases.items():
        result = run(
            script, f'--train_data={pattern}', f'--model_dir={tmp_path / "m"}', check=False
        )
        assert result.returncode == 1, name
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith('error: ') and message in last, (name, result.stderr[-2000:])
        assert not os.path.exists(tmp_path / 'm' / 'checkpoint')
    result = run(
        'train_rgb.py', '--train_data=x', '--model_dir=m', '--freeze_bn', 'false', check=False
    )
    assert result.returncode != 0 and 'Unexpected arguments' in result.stderr


@pytest.fixture(scope='module')
def rgb_run(shards, tmp_path_factory):
    """train_rgb.py, 2 replicas, 4 steps, checkpoints at 2 and 4, --deterministic."""
    model_dir = tmp_path_factory.mktemp('rgb_run')
    run_process(
        f'--train_data={shards}/train-*.tfrecord',
        f'--model_dir={model_dir}',
        '--cpu_replicas=2',
        '--train_steps=4',
        '--checkpoint_every=2',
        '--deterministic',
        *TINY,
    )
    return model_dir


def test_rgb_two_replicas_checkpoint_and_resume_after_kill(rgb_run, shards, tmp_path):
    assert tf.train.latest_checkpoint(str(rgb_run)).endswith('ckpt-4')
    reference = losses(rgb_run)
    assert sorted(reference) == [1, 2, 3, 4] and all(np.isfinite(list(reference.values())))
    assert any(f.startswith('events.out.tfevents') for f in os.listdir(rgb_run))
    # The same command, killed (SIGKILL) once its step-2 checkpoint exists, then re-run.
    killed = tmp_path / 'killed'
    args = [
        sys.executable,
        'train_rgb.py',
        f'--train_data={shards}/train-*.tfrecord',
        f'--model_dir={killed}',
        '--cpu_replicas=2',
        '--train_steps=4',
        '--checkpoint_every=2',
        '--deterministic',
        *TINY,
    ]
    process = subprocess.Popen(
        args, cwd=REPO_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 600
    # Killed once the step-2 checkpoint is recorded (the `checkpoint` state file names it).
    while process.poll() is None and not (tf.train.latest_checkpoint(str(killed)) or '').endswith(
        'ckpt-2'
    ):
        assert time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not os.path.exists(killed / 'ckpt-4.index')
    (killed / 'ckpt-3_temp').mkdir()  # as a save killed half-way leaves it
    resumed = run_process(*args[2:])
    assert 'resumed from' in resumed.stderr
    # Steps 1-2 come from a second run of the command, 3-4 from its resumed run: with
    # --deterministic all are bit-equal to the uninterrupted run, and so is every
    # variable saved at the end (weights, BN statistics, optimizer slots).
    assert losses(killed) == reference
    ours, theirs = str(killed / 'ckpt-4'), str(rgb_run / 'ckpt-4')
    names = [n for n, _ in tf.train.list_variables(theirs) if n.endswith('VARIABLE_VALUE')]
    assert len(names) > 500 and names == [
        n for n, _ in tf.train.list_variables(ours) if n.endswith('VARIABLE_VALUE')
    ]
    for name in names:
        np.testing.assert_array_equal(
            tf.train.load_variable(ours, name), tf.train.load_variable(theirs, name), name
        )
    assert not [name for name in os.listdir(killed) if '_temp' in name or '.tmp-' in name]


def _free_port():
    with socket.socket() as s:
        s.bind(('localhost', 0))
        return s.getsockname()[1]


def test_multi_worker_two_local_workers_take_one_identical_step(shards, tmp_path):
    workers = [f'localhost:{_free_port()}' for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {'cluster': {'worker': workers}, 'task': {'type': 'worker', 'index': index}}
        env = {**os.environ, 'TF_CONFIG': json.dumps(tf_config)}
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    'train_rgb.py',
                    f'--train_data={shards}/train-*.tfrecord',
                    f'--model_dir={tmp_path}',
                    '--strategy=multi_worker',
                    '--train_steps=1',
                    *TINY,
                ],
                cwd=REPO_DIR,
                env=env,
                stdout=subprocess.DEVNULL,
                text=True,
                stderr=open(tmp_path / f'worker{index}.log', 'w'),  # a pipe would fill and block
            )
        )
    # Both workers save; the chief (task 0) may then hang in TensorFlow's shutdown once
    # the other worker has exited (seen here with TF 2.21), so it is not waited for.
    processes[1].wait(timeout=900)
    assert processes[1].returncode == 0, (tmp_path / 'worker1.log').read_text()[-3000:]
    deadline = time.time() + 120
    while not os.path.exists(tmp_path / 'ckpt-1.index') and processes[0].poll() is None:
        assert time.time() < deadline
        time.sleep(0.1)
    if processes[0].poll() is None:
        time.sleep(2)  # let it finish writing train_log.jsonl and the `checkpoint` file
        processes[0].kill()
    processes[0].communicate()
    chief = str(tmp_path / 'ckpt-1')
    other = tf.train.latest_checkpoint(str(tmp_path / 'worker_1'))
    assert other.endswith('ckpt-1')
    names = [n for n, _ in tf.train.list_variables(chief) if n.startswith('model/')]
    assert len(names) > 500
    for name in names:
        np.testing.assert_array_equal(
            tf.train.load_variable(chief, name), tf.train.load_variable(other, name), name
        )


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(shards, tmp_path):
    result = run(
        'train_rgb.py',
        f'--train_data={shards}/train-*.tfrecord',
        f'--model_dir={tmp_path}',
        '--optimizer=sgd',
        '--learning_rate=1e15',
        '--train_steps=20',
        '--checkpoint_every=1',
        '--strategy=one_device',
        *TINY,
        check=False,
    )
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and last.startswith('error: non-finite '), last
    failed_at = int(last.split(' at step ')[1].split(';')[0])
    latest = tf.train.latest_checkpoint(str(tmp_path))
    assert latest.endswith(f'ckpt-{failed_at - 1}') and f'last good checkpoint is {latest}' in last
    # The checkpoint it names holds only finite numbers (the loss checked before an update
    # says nothing about the weights that update wrote).
    for name, _ in tf.train.list_variables(latest):
        value = tf.train.load_variable(latest, name)
        if np.asarray(value).dtype.kind == 'f':
            assert np.isfinite(value).all(), name


def _start(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _logged_steps(model_dir):
    try:
        with open(model_dir / 'train_log.jsonl') as f:
            return len(f.read().splitlines())
    except OSError:
        return 0


def test_sigterm_and_ctrl_c_save_and_exit_in_one_line_and_the_run_resumes(shards, tmp_path):
    model_dir = tmp_path / 'run'
    args = [
        'train_rgb.py',
        f'--train_data={shards}/train-*.tfrecord',
        f'--model_dir={model_dir}',
        '--strategy=one_device',
        '--checkpoint_every=1000',
        *TINY,
    ]
    stopped_at = 0
    for signum, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        process = _start([*args, '--train_steps=1000'])
        deadline = time.time() + 600
        while process.poll() is None and _logged_steps(model_dir) <= stopped_at:
            assert time.time() < deadline
            time.sleep(0.05)  # a step of this run is done: the handlers are in place
        process.send_signal(signum)
        _, err = process.communicate(timeout=600)
        last = err.strip().splitlines()[-1]
        assert process.returncode == code, err[-3000:]
        assert 'Traceback' not in err and last.startswith(f'{signum.name}: stopped at step'), last
        stopped_at = int(last.split('at step ')[1].split(';')[0])
        assert last.endswith(
            f'saved {model_dir}/ckpt-{stopped_at}. Run the same command again to resume.'
        )
        assert sorted(losses(model_dir)) == list(range(1, stopped_at + 1))
    finished = run(*args, f'--train_steps={stopped_at + 1}')
    assert f'resumed from {model_dir}/ckpt-{stopped_at}' in finished.stderr
    assert sorted(losses(model_dir)) == list(range(1, stopped_at + 2))


def _truncated_copy(shard, path, keep=0.7):
    data = open(shard, 'rb').read()
    path.write_bytes(data[: int(len(data) * keep)])  # no manifest part: found only when read
    return path


def test_unreadable_data_mid_run_is_one_line_and_the_model_is_saved_before_evaluating(
    shards, tmp_path
):
    bad = tmp_path / 'eval'
    bad.mkdir()
    _truncated_copy(shards / 'test-00000-of-00002.tfrecord', bad / 'test-0.tfrecord')
    (bad / 'label_map.txt').write_text((shards / 'label_map.txt').read_text())
    model_dir = tmp_path / 'run'
    result = run(
        'train_rgb.py',
        f'--train_data={shards}/train-*.tfrecord',
        f'--eval_data={bad}/*.tfrecord',
        f'--model_dir={model_dir}',
        '--strategy=one_device',
        '--train_steps=1',
        *TINY,
        check=False,
    )
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert last.startswith(f'error: {bad}/test-0.tfrecord: unreadable data after step 1 (DataLoss')
    assert f'the last checkpoint is {model_dir}/ckpt-1' in last
    assert os.path.exists(model_dir / 'ckpt-1.index')
    train = tmp_path / 'train'
    train.mkdir()
    _truncated_copy(shards / 'train-00000-of-00002.tfrecord', train / 'train-0.tfrecord')
    (train / 'label_map.txt').write_text((shards / 'label_map.txt').read_text())
    result = run(
        'train_rgb.py',
        f'--train_data={train}/*.tfrecord',
        f'--model_dir={tmp_path / "run2"}',
        '--train_steps=3',
        *TINY,
        check=False,
    )
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert last.startswith(f'error: {train}/train-0.tfrecord: unreadable data after step 0')
