"""common.startup: TensorFlow's start-up notices dropped unless asked for (--verbosity,
TF_CPP_MIN_LOG_LEVEL), its INFO records dropped and ours kept."""

import os
import re

import pytest

from common import startup
from tests import cli


@pytest.mark.parametrize(
    'argv, wanted',
    [
        (['x'], False),
        (['x', '--verbosity=0'], True),
        (['x', '-v', '1'], True),
        (['x', '--verbosity=-1'], False),
        (['x', '--', '--verbosity=1'], False),
    ],
)
def test_detailed_follows_verbosity(argv, wanted):
    assert startup.detailed(argv, environ={}) is wanted
    assert startup.detailed(argv, environ={startup.LOG_LEVEL: '3'}) is True


def test_noise_pattern_drops_only_the_start_up_notices():
    noise = [
        'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR',
        'I0000 00:00:1796663854.831152    5946 port.cc:153] oneDNN custom operations are on.',
        'I0000 00:00:1796663855.011989    5946 cpu_feature_guard.cc:227] This TensorFlow binary',
        'To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow '
        'with the appropriate compiler flags.',
    ]
    kept = ['E0000 00:00:1.0  1 cuda_driver.cc:1] failed call', 'error: x', 'W0000 1 a.cc:1] w']
    assert all(startup.NOISE.search(line) for line in noise)
    assert not any(startup.NOISE.search(line) for line in kept)


@pytest.mark.slow  # two processes
def test_tensorflow_loads_quietly_unless_asked(tmp_path):
    code = 'import common.kernels, tensorflow as tf; print(tf.constant(2).numpy())'
    env = {k: v for k, v in os.environ.items() if k != startup.LOG_LEVEL}
    quiet, _ = cli.run_measured('-c', code, env=env)
    assert quiet.stdout == '2\n' and quiet.stderr == '', quiet.stderr
    loud, _ = cli.run_measured('-c', code, env={**env, startup.LOG_LEVEL: '0'})
    assert loud.stdout == '2\n'
    assert re.search(r'cpu_feature_guard|port\.cc', loud.stderr), loud.stderr


def test_a_level_inherited_from_our_default_is_not_the_users():
    # Pool workers inherit the parent's defaulted TF_CPP_MIN_LOG_LEVEL: still quiet there.
    inherited = {startup.LOG_LEVEL: '1', startup.DEFAULTED: '1'}
    assert startup.detailed(['x'], environ=inherited) is False
    assert startup.detailed(['x'], environ={startup.LOG_LEVEL: '1'}) is True
    assert startup.detailed(['x'], environ={**inherited, startup.LOG_LEVEL: '0'}) is True


def test_tensorflow_info_records_are_dropped_and_ours_kept():
    import logging

    def record(level, path):
        return logging.LogRecord('absl', level, path, 1, 'm', None, None)

    saver = os.path.join('', 'site-packages', 'tensorflow', 'python', 'functional_saver.py')
    assert startup._tensorflow_info(record(logging.INFO, saver))
    assert not startup._tensorflow_info(record(logging.WARNING, saver))
    assert not startup._tensorflow_info(record(logging.INFO, 'preprocess/sources.py'))
