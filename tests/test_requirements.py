"""requirements*.txt: every pin is what the environment runs, and `tensorboard --logdir runs/`
(the viewer of the training summaries) is installed by `make setup`."""

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


@pytest.mark.parametrize('name', ['requirements.txt', 'requirements-dev.txt'])
def test_installed_versions_are_the_pins(name):
    pins = _pins(name)
    assert pins, name
    installed = {}
    for package in pins:
        try:
            installed[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            installed[package] = None
    assert installed == pins


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
