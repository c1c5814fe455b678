"""Speed benchmarks: run as `python -m benchmarks.<name>` from the repository root."""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)
