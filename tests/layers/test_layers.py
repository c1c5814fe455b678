"""layers/: the ops below the networks import nothing from the project above them, and of
installed packages only TensorFlow, Sonnet and numpy (test_imports states the floors)."""

import glob
import os
import sys

from test_imports import imported

from common.files import REPO_DIR

ALLOWED = {'tensorflow', 'sonnet', 'numpy', 'common', 'layers'}


def test_layers_import_only_tensorflow_sonnet_numpy_common_and_each_other():
    modules = sorted(glob.glob(os.path.join(REPO_DIR, 'layers', '*.py')))
    names = {os.path.basename(m) for m in modules}
    assert {'__init__.py', 'batch_norm.py', 'conv.py', 'pooling.py'} <= names
    above = {
        os.path.relpath(m, REPO_DIR): sorted(
            {name for _, name in imported(os.path.relpath(m, REPO_DIR), relative='layers')}
            - ALLOWED
            - set(sys.stdlib_module_names)
        )
        for m in modules
    }
    assert {m: p for m, p in above.items() if p} == {}
