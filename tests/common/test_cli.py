"""common.cli: every script's `main` refuses stray arguments the same way."""

import ast
import glob
import os

import pytest
from absl import app

from common import cli
from common.files import REPO_DIR


def test_stray_arguments_are_refused_in_one_wording():
    cli.reject_stray_arguments(['prog'])  # nothing left over: fine
    with pytest.raises(app.UsageError) as error:
        cli.reject_stray_arguments(['prog', 'false'])
    assert str(error.value) == (
        "Unexpected arguments: ['false'] (write boolean flags as --flag=false)"
    )


def _mains():
    """Source files of the repository (tests aside) that define `main(argv)`."""
    for path in sorted(glob.glob(os.path.join(REPO_DIR, '**', '*.py'), recursive=True)):
        relative = os.path.relpath(path, REPO_DIR)
        if relative.startswith(('tests', '.')):
            continue
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == 'main':
                yield relative, node


def test_every_main_checks_its_arguments_through_the_one_helper():
    mains = dict(_mains())
    assert len(mains) >= 10, sorted(mains)  # the scripts, build_shards, the benchmarks
    for relative, node in mains.items():
        calls = [ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)]
        own = 'cli.reject_stray_arguments' in calls or 'loop.cli_main' in calls
        assert own, f'{relative}: main does not call cli.reject_stray_arguments'
        assert 'len(argv) > 1' not in ast.unparse(node), f'{relative}: its own argv check'
