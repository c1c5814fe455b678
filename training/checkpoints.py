"""A run's checkpoints: where it resumes, its seed, and saves that are always finite.

A checkpoint holds the model (under `model_io.MODEL_KEY`, so every tool reads it), the
optimizer's own variables (iterations = the step, slots) and the run's seed, which makes
the input of a resumed run the same as that of an uninterrupted one.
"""

import random

import tensorflow as tf

import model_io
from training import run_dir


def seed_of(config, checkpoint):
    """The run's seed: the checkpoint's when resuming, else --seed, else a fresh one."""
    if checkpoint:
        stored = int(tf.train.load_variable(checkpoint, 'seed/.ATTRIBUTES/VARIABLE_VALUE'))
        if config.seed is not None and config.seed != stored:
            raise ValueError(
                f'{checkpoint}: cannot resume with another --seed ({stored} there, '
                f'{config.seed} now); use the settings of the run that wrote it, or another '
                '--model_dir'
            )
        return stored
    return config.seed if config.seed is not None else random.randrange(2**31)


def resume_point(config, stream, model_dir, classes, train_files, chief, log):
    """(latest intact checkpoint of `model_dir` or None, the run's seed).

    Leftovers of a killed save are removed first; a resume must keep the settings that
    matter (run_dir.check_resume), which are then (re)written beside the checkpoints.

    Raises:
      ValueError: a resume with other settings or beyond --train_steps, naming them.
    """
    num_classes, class_names = classes
    run_dir.clean_temporaries(model_dir)
    latest = model_io.latest_intact(model_dir)
    seed = seed_of(config, latest)
    settings = run_dir.settings(config, stream, num_classes, class_names, train_files, seed)
    if latest:
        stored = model_io.read_settings(model_dir)
        if stored is None:  # a folder from before run_settings.json
            run_dir.check_checkpoint_shapes(latest, num_classes, stream)
        else:
            for notice in run_dir.check_resume(stored, settings, latest):
                log(f'{model_dir}: {notice}')
        step_there = step_of(latest)
        if config.train_steps < step_there:
            raise ValueError(
                f'{latest}: already at step {step_there}, beyond --train_steps='
                f'{config.train_steps}; give --train_steps >= {step_there} (or another '
                '--model_dir)'
            )
    if chief or not latest:
        run_dir.write_settings(model_dir, settings)
    return latest, seed


def step_of(path):
    """The step of a `.../ckpt-N` checkpoint path (0 for None)."""
    return model_io.checkpoint_step(path) if path else 0


class Saver:
    """The run's checkpoint object and manager; remembers the last good checkpoint."""

    def __init__(self, trainer, model_dir, seed, keep, latest=None):
        self.trainer = trainer
        self.last_good = latest
        self._checkpoint = tf.train.Checkpoint(
            **{model_io.MODEL_KEY: trainer.model},
            optimizer=trainer.optimizer_state(),
            seed=tf.Variable(seed, dtype=tf.int64),
        )
        self._manager = tf.train.CheckpointManager(
            self._checkpoint,
            model_dir,
            max_to_keep=keep,
            checkpoint_name=model_io.CHECKPOINT_PREFIX,
        )

    def restore(self, path):
        """Reads `path` into the model and optimizer.

        Raises:
          ValueError: a checkpoint written with other settings (shapes, optimizer).
        """
        try:
            self._checkpoint.read(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise ValueError(
                f'{path}: cannot resume: it was written with other settings ({first})'
            ) from None

    def save(self, step):
        """Saves step `step` and returns its path; never saves non-finite weights.

        Raises:
          ValueError: a weight or statistic is NaN or infinite (naming the last good one).
        """
        if not self.trainer.weights_finite():
            raise ValueError(
                f'non-finite weights at step {step} (not saved); the last good checkpoint '
                f'is {self.last_good or "none"}'
            )
        self.last_good = self._manager.save(checkpoint_number=step)
        return self.last_good
