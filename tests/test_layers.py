"""layers/: the ops below the networks import nothing from the project above them."""

import ast
import glob
import os
import sys

from common.files import REPO_DIR

ALLOWED = {'tensorflow', 'sonnet', 'numpy', 'common', 'layers'}


def imported_packages(path):
    """The top-level package of every module `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add('layers' if node.level else node.module.split('.')[0])
    return found


def test_layers_import_only_tensorflow_sonnet_numpy_common_and_each_other():
    modules = sorted(glob.glob(os.path.join(REPO_DIR, 'layers', '*.py')))
    names = {os.path.basename(m) for m in modules}
    assert {'__init__.py', 'batch_norm.py', 'conv.py', 'pooling.py'} <= names
    above = {
        os.path.relpath(m, REPO_DIR): sorted(
            imported_packages(m) - ALLOWED - set(sys.stdlib_module_names)
        )
        for m in modules
    }
    assert {m: p for m, p in above.items() if p} == {}
