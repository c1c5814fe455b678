"""common.stop_on_signals: imported first by fvd.py and extract_features.py, it installs
the signal handlers of common.signals in a script, and nothing anywhere else."""

import os
import subprocess
import sys

import pytest

from common.files import REPO_DIR


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='POSIX signals')
def test_importing_stop_on_signals_outside_a_script_changes_nothing():
    code = (
        'import signal; import common.stop_on_signals; '
        'print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, '
        'signal.getsignal(signal.SIGINT) is signal.default_int_handler)'
    )
    result = subprocess.run(
        [sys.executable, '-c', code],
        cwd=REPO_DIR,
        env=dict(os.environ, PYTHONPATH=REPO_DIR),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == 'True True\n'
