"""DeepMind's released kinetics-i3d TF1 checkpoints: one, or all five of a clone.

Loads TensorFlow (model_io).
"""

import os

import model_io
import zoo
from weights import assign, names, output, tf1


def read_checkpoint(path):
    """Reads a DeepMind TF1 checkpoint into {canonical name: array}.

    Raises:
      ValueError: unreadable or damaged, or another kind of checkpoint.
    """
    reader, variables = tf1.open_checkpoint(path)
    if not names.is_deepmind(variables):
        raise ValueError(f'{path}: not a DeepMind I3D checkpoint; it is {tf1.kind(variables)}')
    wanted = [n for n in variables if names.canonical_from_deepmind(n) is not None]
    return {
        names.canonical_from_deepmind(n): a
        for n, a in tf1.read_tensors(reader, path, wanted).items()
    }


def convert_dir(deepmind_dir, checkpoints_dir, overwrite=False):
    """Converts every released checkpoint of a kinetics-i3d clone to `checkpoints_dir/<name>/model`.

    One already there is kept (so that re-running, e.g. `make weights-deepmind`, changes
    nothing) unless `overwrite`.

    Returns:
      [(name, tensor count or None if kept, output prefix)].

    Raises:
      ValueError: if the clone holds none of them, or one does not match the model.
    """
    found = [
        n
        for n in names.DEEPMIND_CHECKPOINTS
        if os.path.exists(zoo.deepmind_source(deepmind_dir, n) + '.index')
    ]
    if not found:
        raise ValueError(
            f'{deepmind_dir}: no DeepMind checkpoint under data/checkpoints/ '
            f'(expected {", ".join(names.DEEPMIND_CHECKPOINTS)})'
        )
    done = []
    for name in found:
        prefix = os.path.join(checkpoints_dir, name, 'model')
        if output.exists(prefix) and not overwrite:
            done.append((name, None, prefix))
            continue
        output.check_output(prefix, overwrite=True)
        source = zoo.deepmind_source(deepmind_dir, name)
        model, count = assign.import_arrays(read_checkpoint(source), source)
        done.append((name, count, model_io.save(model, prefix)))
    return done
