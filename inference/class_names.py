"""The class names of a checkpoint when no --label_map is given.

A fine-tuned model's classes are those of its shards, which train_rgb.py / train_flow.py
record in run_settings.json beside the checkpoints; Kinetics-400 (or -600) names would
be wrong for it, or of the wrong length. evaluate_sample.py and export_saved_model.py
choose by `for_checkpoints`; an explicit --label_map still wins (each script checks its
length against the model).
"""

import os
import typing

import model_io
import zoo
from common import files, label_map


class Classes(typing.NamedTuple):
    names: list
    source: str  # where they come from (for messages): a label map or a run_settings.json
    label_map: str | None  # the label map file, None for names recorded by a training run


def _recorded(prefixes):
    """The names recorded by the runs of the checkpoints ({stream: prefix}), or None."""
    found = None
    for prefix in prefixes.values():
        names, path = model_io.recorded_class_names(prefix)
        if names is None:
            continue
        if found is not None and found.names != names:
            raise ValueError(
                f'{path}: other class names than {found.source}: the streams were trained on '
                'other classes (pass --label_map to choose)'
            )
        found = Classes(names, path, None)
    return found


def _released(network, num_classes):
    """The label map zoo.py gives the network for its number of classes (I3D: DeepMind's
    Kinetics-400 and -600 maps), or None."""
    maps = zoo.get(zoo.name_of(network)).label_maps
    if num_classes not in maps:
        return None
    path = files.here_or_in_repo(maps[num_classes])
    if num_classes == 600 and not os.path.exists(path):
        # Not in the repository: no independent source of DeepMind's list was found offline.
        raise ValueError(
            f"{path}: missing; the Kinetics-600 class names come with DeepMind's kinetics-i3d: "
            '`make weights-deepmind DEEPMIND_DIR=<kinetics-i3d clone>` installs them '
            '(or pass --label_map)'
        )
    return Classes(label_map.read(path), path, path)


def for_checkpoints(checkpoints):
    """The class names of the checkpoints ({stream: path or training --model_dir}).

    The names their training run recorded (run_settings.json beside them), else
    Kinetics-400 or -600 names for a 400- or 600-class model (DeepMind's checkpoints).

    Raises:
      ValueError: one line naming the checkpoint and what to pass when neither fits, or
        `model_io.check_classifiers`' errors.
    """
    num_classes, prefixes = model_io.check_classifiers(checkpoints)
    prefix = next(iter(prefixes.values()))
    found = _recorded(prefixes) or _released(model_io.read_spec(prefix).network, num_classes)
    if found is None:
        raise ValueError(
            f'{prefix}: a {num_classes}-class model and no class names recorded beside it '
            f'({model_io.SETTINGS_NAME}); pass --label_map=<its classes, one per line> '
            '(build_shards writes label_map.txt beside the shards it trained on)'
        )
    if len(found.names) != num_classes:
        raise ValueError(
            f'{found.source}: {len(found.names)} class names for a {num_classes}-class model '
            '(pass --label_map)'
        )
    return found
