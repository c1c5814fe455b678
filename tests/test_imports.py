"""Imports go one way: from the ground floor up, never back down.

FLOORS states the allowed order once. A module may import the standard library, installed
packages, its own package, and the project's packages on floors below its own; never a
package on its own floor (the peers stay independent) or above it. Every import counts,
also those inside functions (a late import is still a dependency).
"""

import ast
import os

from common.files import REPO_DIR

# Ground floor first. Top-level names: a package (folder) or a root module (file).
FLOORS = (
    ('common',),  # small helpers: files, flags, pictures, labels, logging defaults
    ('jobs',),  # a per-video function over many videos: the pool, Beam, their flags, records
    ('preprocess', 'layers'),  # the video layer (reading, sampling, flow, shards); the ops
    ('i3d', 'zoo'),  # the networks; the zoo names them (and imports them by name, lazily)
    ('model_io',),  # saving and restoring it
    ('training', 'inference', 'weights'),  # the jobs; weight conversion
    ('measure',),  # FVD (embeds videos as inference does)
    (
        'benchmarks',
        'evaluate',
        'evaluate_sample',
        'export_saved_model',
        'extract_features',
        'fvd',
        'import_weights',
        'train_flow',
        'train_rgb',
    ),  # the commands
)
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def _top_level_names():
    """The project's own top-level modules and packages (what an import can name)."""
    names = set()
    for entry in os.listdir(REPO_DIR):
        path = os.path.join(REPO_DIR, entry)
        if entry.endswith('.py'):
            names.add(entry[:-3])
        elif os.path.isfile(os.path.join(path, '__init__.py')) and entry != 'tests':
            names.add(entry)
    return names


def _sources():
    """(top-level name, relative path) of every project source file outside tests/."""
    for folder, dirs, files in os.walk(REPO_DIR):
        rel = os.path.relpath(folder, REPO_DIR)
        dirs[:] = [d for d in dirs if not d.startswith('.') and d not in ('tests', '__pycache__')]
        for name in files:
            if name.endswith('.py'):
                path = os.path.normpath(os.path.join(rel, name))
                yield path.split(os.sep)[0].removesuffix('.py'), path


def imported(path, relative=None):
    """(line, top-level name) of every import in the file (`path` relative to the
    repository); relative imports (`from . import x`) are named `relative`, or skipped."""
    with open(os.path.join(REPO_DIR, path)) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split('.')[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split('.')[0]
        elif isinstance(node, ast.ImportFrom) and relative is not None:
            yield node.lineno, relative


def test_every_top_level_module_has_a_floor():
    assert _top_level_names() - set(FLOOR) == set()


def test_no_import_runs_back_up_or_sideways():
    project = _top_level_names()
    wrong = []
    for owner, path in _sources():
        for line, name in imported(path):
            if name in project and name != owner and FLOOR[name] >= FLOOR[owner]:
                way = 'sideways' if FLOOR[name] == FLOOR[owner] else 'up'
                wrong.append(f'{path}:{line} imports {name} ({way})')
    assert wrong == []
