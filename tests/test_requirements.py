"""requirements*.txt: every pin is what the environment runs, one TensorFlow build is
installed (the CPU one starts without a CUDA error), and `tensorboard --logdir runs/` (the
viewer of the training summaries) is installed by `make setup`."""

import importlib.metadata
import os
import re
import subprocess
import sys

import pytest

from common.files import repo_path

PIN = re.compile(r'^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)')


def _pins(name):
    pins = {}
    with open(repo_path(name), encoding='utf-8') as f:
        for line in f:
            match = PIN.match(line.strip())
            if match:
                pins[match.group(1)] = match.group(3)
    return pins


def _installed(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _build():
    """'cpu' or 'gpu': which of requirements-cpu.txt / -gpu.txt this environment has."""
    return 'cpu' if _installed('tensorflow-cpu') else 'gpu'


@pytest.mark.parametrize(
    'name', ['requirements.txt', 'requirements-dev.txt', 'requirements-hub.txt', 'build']
)
def test_installed_versions_are_the_pins(name):
    if name == 'build':
        name = f'requirements-{_build()}.txt'
    pins = _pins(name)
    assert pins, name
    assert {package: _installed(package) for package in pins} == pins


def test_one_tensorflow_build_of_one_version_is_installed():
    cpu, gpu = (_pins(f'requirements-{build}.txt') for build in ('cpu', 'gpu'))
    assert cpu == {'tensorflow-cpu': '2.21.0'} and gpu == {'tensorflow': '2.21.0'}
    assert 'tensorflow' not in _pins('requirements.txt')  # only through one of the two
    # Both builds write the same files: the second one installed would replace the first's.
    assert not (_installed('tensorflow-cpu') and _installed('tensorflow'))


@pytest.mark.slow
@pytest.mark.skipif(_build() != 'cpu', reason='the CUDA build is installed (make setup TF=gpu)')
def test_the_cpu_build_starts_without_a_cuda_error():
    probe = 'import tensorflow as tf; print(tf.config.list_physical_devices())'
    result = subprocess.run(
        [sys.executable, '-c', probe], capture_output=True, text=True, check=True
    )
    assert "PhysicalDevice(name='/physical_device:CPU:0'" in result.stdout
    assert 'cuInit' not in result.stderr and 'cuda' not in result.stderr.lower(), result.stderr


@pytest.mark.slow
def test_tensorboard_is_a_dependency_and_runs():
    assert 'tensorboard' in _pins('requirements.txt')
    script = os.path.join(os.path.dirname(sys.executable), 'tensorboard')
    result = subprocess.run([script, '--version'], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == _pins('requirements.txt')['tensorboard']


def test_matplotlib_is_a_dependency_and_draws_without_a_display():
    """The confusion pictures are always written (evaluate.py, training's TensorBoard)."""
    assert 'matplotlib' in _pins('requirements.txt')
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1), dpi=10)
    FigureCanvasAgg(figure).draw()
    assert figure.canvas.get_width_height() == (10, 10)
