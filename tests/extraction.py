"""Helpers of the extract_features tests: an in-process run and the model's own numbers."""

import contextlib
import io

import numpy as np
import tensorflow as tf

import i3d
import model_io
from inference.extract import features, run


def extract(spec, output_dir, checkpoints, runner='pool', overwrite=False, **settings):
    """An extraction in-process (run.run); returns (records, skipped, stdout)."""
    out = io.StringIO()
    settings = features.Settings(**({'window': 8, 'stride': 4} | settings))
    paths = {s: checkpoints[s] for s in settings.streams}
    with contextlib.redirect_stdout(out):
        records, skipped = run.run(
            str(spec), str(output_dir), settings, paths, 1, runner, '', overwrite
        )
    return records, skipped, out.getvalue()


def pooled(checkpoint, clip):
    """The classifier's input of one pass, checked against the logits: features @ w + b."""
    model, _ = model_io.load(checkpoint)
    logits, end_points = model(tf.constant(clip[None]), is_training=False)
    vector = i3d.classifier_input(end_points['Mixed_5c'])[0].numpy()
    w, b = (v.numpy() for v in model.logits_variables)
    np.testing.assert_allclose(vector @ w.reshape(w.shape[-2:]) + b, logits[0], atol=1e-5)
    return vector
