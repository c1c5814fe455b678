"""training.logs: the run's stderr lines, the log a fresh run drops, and the TensorBoard
scalars and confusion picture it writes (read back from the event file)."""

import glob

import numpy as np
import tensorflow as tf

from training import logs, run_dir


def _events(folder):
    """{tag: [(step, value, plugin)]} of every summary written in `folder`."""
    found = {}
    for path in glob.glob(str(folder / 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                entry = (event.step, tf.make_ndarray(value.tensor), value.metadata)
                found.setdefault(value.tag, []).append(entry)
    return found


def test_log_lines_go_to_stderr(capsys):
    logs.log('step 3: loss 1.25')
    assert capsys.readouterr() == ('', 'step 3: loss 1.25\n')


def test_a_fresh_run_drops_the_log_of_one_killed_before_any_save(tmp_path):
    logs.fresh_log(str(tmp_path))  # none there: nothing to do
    (tmp_path / run_dir.LOG_NAME).write_text('{"step": 1}\n')
    (tmp_path / 'run_settings.json').write_text('{}')
    logs.fresh_log(str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ['run_settings.json']


def test_the_step_records_are_not_logged():
    metrics = {'loss': 2.0, 'accuracy': 0.5, 'correct': 3, 'non_finite': False, 'stop': True}
    assert logs.logged(metrics) == {'loss': 2.0, 'accuracy': 0.5}


def test_scalars_are_tagged_train_unless_named_and_read_back(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    logs.summaries(writer, 7, {'loss': 1.5, 'eval/top1': 0.25, 'correct': 4, 'stop': False})
    logs.summaries(writer, 8, {'loss': 1.25})
    writer.close()
    events = _events(tmp_path)
    assert sorted(events) == ['eval/top1', 'train/loss']
    assert [(step, float(value)) for step, value, _ in events['train/loss']] == [
        (7, 1.5),
        (8, 1.25),
    ]
    [(step, value, metadata)] = events['eval/top1']
    assert step == 7 and value == np.float32(0.25) and value.dtype == np.float32
    assert metadata.plugin_data.plugin_name == 'scalars'


def test_the_confusion_picture_is_an_image_summary_of_a_png(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    matrix = np.array([[3, 1], [0, 4]])
    logs.confusion_image(writer, 20, matrix, ['run', 'jump'])
    writer.close()
    [(step, value, metadata)] = _events(tmp_path)['eval/confusion']
    assert step == 20 and metadata.plugin_data.plugin_name == 'images'
    width, height, png = value
    image = tf.io.decode_png(png).numpy()
    assert image.shape[:2] == (int(height), int(width)) and png.startswith(b'\x89PNG')
