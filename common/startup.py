"""How every command starts: TensorFlow loaded only when first used, and loaded quietly.

Imported by common/kernels.py, which every script imports before anything else, so that it
runs before TensorFlow does. Two things:

Late loading. Importing TensorFlow costs seconds of CPU before a script reads its first
flag. `import tensorflow as tf` at the top of a module binds a placeholder module here;
TensorFlow really loads on the first `tf.<name>`.
A script's cheap checks of its flags and files, done before that, refuse bad input in
well under a second. (Why not only imports moved into `main`: TensorFlow's import takes
~7 s of CPU, and it is imported at the top of modules that the refusals need, e.g.
training/data.py's `list_files` and build_shards' chain per_video -> schema, shards.)

Quiet loading. TensorFlow's C++ start-up writes notices (`WARNING: All log messages before
absl::InitializeLog() ...`, the oneDNN notice, `cpu_feature_guard`) that concern nobody
running these tools: the oneDNN choice is the project's own (common/kernels.py). They are
written before `TF_CPP_MIN_LOG_LEVEL` is read, so the import's stderr is read back and
those lines (`NOISE`) dropped; any other line is written through. `TF_CPP_MIN_LOG_LEVEL`
defaults to 1 (warnings and errors shown, information hidden), and TensorFlow's Python
logger to warnings. A user's own `TF_CPP_MIN_LOG_LEVEL`, or `--verbosity=0` or higher
(absl's flag: information and more), keeps everything, as TensorFlow prints it.
"""

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
import types

LOG_LEVEL = 'TF_CPP_MIN_LOG_LEVEL'
DEFAULTED = 'I3D_TF_LOG_LEVEL_DEFAULTED'  # LOG_LEVEL's value when it is our default
# The C++ start-up lines dropped from the import's stderr (see the module docstring).
NOISE = re.compile(
    r'WARNING: All log messages before absl::InitializeLog\(\) is called'
    r'|^[IW]\d{4} [\d:.]+ +\d+ (port|cpu_feature_guard)\.cc:\d+\]'
    r'|^To enable the following instructions: .* rebuild TensorFlow'
)


def _verbosity(argv):
    """absl's --verbosity (or -v) as given in `argv`, or None (absl's default: warnings)."""
    for i, arg in enumerate(argv[1:], 1):
        if arg == '--':
            break
        match = re.fullmatch(r'(?:--verbosity|--v|-v)(?:=(.*))?', arg)
        if match:
            value = match.group(1)
            if value is None and i + 1 < len(argv):
                value = argv[i + 1]
            try:
                return int(value)
            except (TypeError, ValueError):
                return None  # absl reports the bad value itself
    return None


def detailed(argv=None, environ=None):
    """Whether the user asked for TensorFlow's own messages (then nothing is hidden)."""
    environ = os.environ if environ is None else environ
    verbosity = _verbosity(sys.argv if argv is None else argv)
    user_level = LOG_LEVEL in environ and environ[LOG_LEVEL] != environ.get(DEFAULTED)
    return user_level or (verbosity is not None and verbosity >= 0)


@contextlib.contextmanager
def _filtered_stderr():
    """Runs the block with file descriptor 2 in a file; then writes its lines but NOISE."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode='w+b') as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors='replace')
            kept = [line for line in text.splitlines(True) if not NOISE.search(line)]
            if kept:
                sys.stderr.write(''.join(kept))
                sys.stderr.flush()


class _LateModule(types.ModuleType):
    """`tensorflow` before its first use: any attribute but `__spec__` loads it.

    (`importlib.util.LazyLoader` is not enough: a second `import tensorflow` reads
    `__spec__` to see whether the module is still initialising, which would load it.)
    """

    def __getattribute__(self, attr):
        if attr == '__spec__':
            return super().__getattribute__(attr)
        self.__class__ = types.ModuleType
        self.__spec__.loader.load_now(self)
        return getattr(self, attr)

    def __delattr__(self, attr):
        self.__getattribute__('__name__')
        delattr(self, attr)


class _LateLoader(importlib.abc.Loader):
    """TensorFlow's own loader, deferred (`exec_module` makes the module a `_LateModule`)
    and quiet (`load_now` drops the start-up notices, unless the user asked for details)."""

    def __init__(self, loader, quiet):
        self._loader = loader
        self._quiet = quiet

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__class__ = _LateModule

    def load_now(self, module):
        module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        if not self._quiet:
            self._loader.exec_module(module)
            return
        with _filtered_stderr():
            self._loader.exec_module(module)


class _LateTensorFlow(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as a `_LateModule`; steps aside after."""

    def __init__(self, quiet):
        self.quiet = quiet

    def find_spec(self, name, path, target=None):
        if name != 'tensorflow':
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _LateLoader(spec.loader, self.quiet)
        return spec


def _tensorflow_info(record):
    """Whether a log record is an INFO (or DEBUG) line of TensorFlow's Python code."""
    return record.levelno < logging.WARNING and f'{os.sep}tensorflow{os.sep}' in record.pathname


def _python_log_defaults():
    """Warnings and errors only from TensorFlow's Python side. absl's app.run raises an
    unset --verbosity to INFO, and TensorFlow logs through absl (the checkpoint saver's
    `Sharding callback duration`, the SavedModel's `signature_serialization ... renamed`
    flood, `Writing fingerprint`) and through its `tensorflow` logger (`Using
    MirroredStrategy`). A filter, not a level: app.run resets the levels after this runs,
    and the project's own absl lines stay as they are."""
    from absl import logging as absl_logging  # first: it makes the `absl` logger its own class

    for logger in (absl_logging.get_absl_logger(), logging.getLogger('tensorflow')):
        logger.addFilter(lambda record: not _tensorflow_info(record))


def install():
    """Log defaults and the late, quiet TensorFlow import; no effect once it is loaded."""
    quiet = not detailed()
    if quiet:
        if LOG_LEVEL not in os.environ:  # children (pool workers) inherit both
            os.environ[LOG_LEVEL] = '1'
            os.environ[DEFAULTED] = '1'
        _python_log_defaults()
    if 'tensorflow' in sys.modules or any(isinstance(f, _LateTensorFlow) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _LateTensorFlow(quiet))


install()


def loaded():
    """Whether TensorFlow has really loaded (`type` does not trigger the placeholder)."""
    module = sys.modules.get('tensorflow')
    return module is not None and type(module) is not _LateModule


def tensorflow_errors():
    """(tf.errors.OpError,) once TensorFlow has loaded, else (): for `except` clauses and
    `isinstance` tests that must not load it to report a missing file."""
    if not loaded():
        return ()
    import tensorflow as tf

    return (tf.errors.OpError,)
