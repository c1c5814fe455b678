"""TensorFlow's CPU kernels: oneDNN's, unless the user chose; must run before TensorFlow loads.

TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once, when it is imported, and turns oneDNN on
by itself only on CPUs with AVX-512-class features. Elsewhere (e.g. the AVX2 machine of
README's oneDNN-vs-Eigen figures) it falls back to Eigen's kernels, whose 3-D convolutions are
several times slower, and whose filter gradient of Conv3d_1a_7x7 is hundreds of times
slower on small clips (`python -m benchmarks.kernel_speed` measures both settings side
by side). Every script imports this module before anything that imports TensorFlow; a
value the user set (`TF_ENABLE_ONEDNN_OPTS=0` for Eigen's kernels) is kept.
Both kernel sets compute the same functions; only the floating-point summation order
differs (the cricket logits' norm by 5e-5, see README "Differences").
"""

import os

VARIABLE = 'TF_ENABLE_ONEDNN_OPTS'
os.environ.setdefault(VARIABLE, '1')

# isort: split
from common import startup  # noqa: E402, F401  (TensorFlow late and quiet: see common/startup.py)
