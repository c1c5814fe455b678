"""A script run as a real process in its own session, signalled once it is working: what
the signal tests of extract_features and fvd share."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import psutil

from common.files import REPO_DIR

STARTUP_TIMEOUT = 600  # TensorFlow's import and a model load on a loaded 2-core machine
WORKERS_GONE_S = 2.0  # after the parent's exit (they are killed before it, normally)


class Script:
    """`python <script> *args`, its stderr read as it comes (for progress lines)."""

    def __init__(self, script, *args):
        self.process = subprocess.Popen(
            [sys.executable, script, *map(str, args)],
            cwd=REPO_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,  # bytes: tqdm's '\r's kept as they are
            start_new_session=True,  # its own process group, as a terminal's job
        )
        self._out = {'stdout': [], 'stderr': []}
        self._readers = [
            threading.Thread(target=self._read, args=(name,), daemon=True) for name in self._out
        ]
        for reader in self._readers:
            reader.start()
        self.children = []

    def _read(self, name):
        pipe = getattr(self.process, name)
        for chunk in iter(lambda: os.read(pipe.fileno(), 4096), b''):
            self._out[name].append(chunk)

    def _text(self, name):
        return b''.join(self._out[name]).decode('utf-8', 'replace')

    @property
    def stderr(self):
        return self._text('stderr')

    def wait_for(self, ready, what):
        """Polls `ready()` until true; fails if the script exits or times out first."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not ready():
            assert self.process.poll() is None, f'exited before {what}:\n{self.stderr[-3000:]}'
            assert time.monotonic() < deadline, f'no {what} in {STARTUP_TIMEOUT} s'
            time.sleep(0.02)

    def handles_signals(self):
        """Whether the script catches SIGTERM yet (Python itself catches only SIGINT):
        `exit_on_signals` has run."""
        with open(f'/proc/{self.process.pid}/status', encoding='utf-8') as f:
            caught = next(line for line in f if line.startswith('SigCgt:')).split()[1]
        return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))

    def send(self, signum):
        """SIGINT to the whole process group (a terminal's Ctrl-C), SIGTERM to the parent
        only (a scheduler's kill); records the processes it had started."""
        self.children = psutil.Process(self.process.pid).children(recursive=True)
        if signum == signal.SIGINT:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def finish(self):
        """(exit code, stdout, stderr, processes of the script still alive after
        WORKERS_GONE_S from its exit)."""
        self.process.wait(timeout=STARTUP_TIMEOUT)
        exited = time.monotonic()
        alive = [p for p in self.children if _alive(p)]
        while alive and time.monotonic() - exited < WORKERS_GONE_S:
            time.sleep(0.02)
            alive = [p for p in alive if _alive(p)]
        for reader in self._readers:  # the pipes close when the last worker is gone
            reader.join(timeout=10)
        pids = [p.pid for p in alive]
        return self.process.returncode, self._text('stdout'), self.stderr, pids

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _alive(process):
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_line(stderr, signum):
    """The one line the stop printed (asserts there is exactly one, and no traceback)."""
    assert 'Traceback' not in stderr, stderr[-3000:]
    assert 'leaked semaphore' not in stderr, stderr[-3000:]
    name = signal.Signals(signum).name
    lines = [line for line in re.split(r'[\r\n]', stderr) if 'stopped' in line]
    assert len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith(f'{name}: stopped '), lines
    return lines[0]
