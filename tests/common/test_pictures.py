"""common/pictures.py: flow colours, captions, GIF/MP4 files, the confusion picture."""

import csv
import io
import os
import subprocess
import time

import cv2
import numpy as np
import pytest
from PIL import Image, ImageSequence

from common import pictures


def test_flow_colours_hue_is_direction_saturation_is_magnitude_up_to_the_bound():
    # right, down, left, up (image coordinates), at half the bound; then zero, then 3x.
    flow = np.array([[10, 0], [0, 10], [-10, 0], [0, -10], [0, 0], [60, 0]], np.float32)
    rgb = pictures.flow_to_rgb(flow[None], 20.0)[0]
    assert rgb.dtype == np.uint8 and rgb.shape == (6, 3)
    hsv = cv2.cvtColor(rgb[:, None], cv2.COLOR_RGB2HSV)[:, 0]
    assert hsv[:4, 0].tolist() == [0, 45, 90, 135]  # OpenCV hue: degrees / 2
    assert hsv[:4, 1].tolist() == [128] * 4  # 10 of 20 px
    assert rgb[4].tolist() == [255, 255, 255]  # still: white, no hue
    assert rgb[5].tolist() == [255, 0, 0]  # beyond the bound: fully saturated red
    assert hsv[:, 2].tolist() == [255] * 6


def test_color_wheel_is_white_outside_the_disc_and_red_on_the_right():
    wheel = pictures.color_wheel(21)
    assert wheel.shape == (21, 21, 3) and wheel[0, 0].tolist() == [255, 255, 255]
    assert wheel[10, 20].tolist()[0] == 255 and wheel[10, 20, 1] < 40  # right edge: red


def test_caption_fits_its_text_and_the_legend():
    strip = pictures.caption('frame 3 of 9  t = 0.12 s' * 10, 200, legend=True)
    assert strip.shape == (pictures.CAPTION_HEIGHT, 200, 3)
    assert strip[:, :150].max() == 255  # text drawn (cut to fit, not overflowing)
    assert (strip[:, -22:] > 0).any()  # the wheel


@pytest.mark.parametrize('ext', ['.gif', '.mp4'])
def test_animations_round_trip_frame_count_size_and_colours(tmp_path, ext):
    frames = [
        np.full((48, 64, 3), (255 * (i % 2), 0, 255 * (1 - i % 2)), np.uint8) for i in range(4)
    ]
    path = pictures.write_animation(str(tmp_path / f'a{ext}'), frames, 25.0)
    if ext == '.gif':
        with Image.open(path) as im:
            read = [np.asarray(f.convert('RGB')) for f in ImageSequence.Iterator(im)]
            assert im.info['duration'] == 40 and im.info['loop'] == 0
    else:
        capture = cv2.VideoCapture(path)
        read = []
        while (found := capture.read())[0]:
            read.append(found[1][..., ::-1])
        assert capture.get(cv2.CAP_PROP_FPS) == 25.0
    assert len(read) == 4 and read[0].shape == (48, 64, 3)
    assert read[0][24, 32, 2] > 200 and read[0][24, 32, 0] < 50  # blue, then red
    assert read[1][24, 32, 0] > 200 and read[1][24, 32, 2] < 50
    assert [p.name for p in tmp_path.iterdir()] == [f'a{ext}']  # no temporary left


def test_a_killed_writers_temporary_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.Popen(['true'])
    dead.wait()  # its pid is free now
    stale = tmp_path / f'a.gif.tmp-{dead.pid}.gif'
    live = tmp_path / f'a.gif.tmp-{os.getppid()}.gif'  # another writer, still running
    stale.write_bytes(b'partial')
    live.write_bytes(b'partial')
    pictures.write_animation(str(tmp_path / 'a.gif'), [np.zeros((8, 8, 3), np.uint8)], 25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.gif', live.name]


def test_animation_refusals(tmp_path):
    frame = [np.zeros((8, 8, 3), np.uint8)]
    with pytest.raises(ValueError, match=r'a\.png: writes \.gif or \.mp4, not \.png'):
        pictures.write_animation(str(tmp_path / 'a.png'), frame, 25)
    with pytest.raises(ValueError, match='no frames'):
        pictures.write_animation(str(tmp_path / 'a.gif'), [], 25)
    (tmp_path / 'file').write_text('x')
    with pytest.raises(ValueError, match='lies under the file'):
        pictures.write_animation(str(tmp_path / 'file' / 'a.gif'), frame, 25)


def test_top_confusions_known_table_order_and_ties():
    m = np.zeros((5, 5), np.int64)
    np.fill_diagonal(m, 50)  # never listed
    m[3, 1] = m[0, 4] = 7  # a tie: (true, predicted) index order
    m[2, 0] = 9
    m[1, 3] = 1
    m[4, 2] = 3
    assert pictures.top_confusions(m) == [(2, 0, 9), (0, 4, 7), (3, 1, 7), (4, 2, 3), (1, 3, 1)]
    assert pictures.top_confusions(m, 2) == [(2, 0, 9), (0, 4, 7)]
    names = ['a', 'b', 'c', 'd', 'e']
    assert pictures.confusion_lines(m, names, 3) == ['c -> a: 9', 'a -> e: 7', 'd -> b: 7']
    assert pictures.confusion_lines(np.eye(5, dtype=np.int64), names) == [
        'no confusions: every video predicted as its own class'
    ]


def test_top_ten_of_a_large_table_is_the_ten_largest_off_diagonal_cells():
    rng = np.random.default_rng(1)
    m = rng.integers(0, 1000, (30, 30))
    np.fill_diagonal(m, 10**6)
    found = pictures.top_confusions(m)
    off = [(-m[t, p], t, p) for t in range(30) for p in range(30) if t != p]
    assert found == [(t, p, -c) for c, t, p in sorted(off)[:10]]


def test_cluster_order_puts_confused_classes_side_by_side():
    m = np.zeros((8, 8), np.int64)
    np.fill_diagonal(m, 10)
    m[0, 5] = 4
    m[5, 0] = 2
    m[5, 7] = 3  # 0-5-7 a chain
    m[2, 6] = 5  # 2-6 a pair
    order = pictures.cluster_order(m).tolist()
    assert sorted(order) == list(range(8))
    position = {c: i for i, c in enumerate(order)}
    assert abs(position[0] - position[5]) == 1 and abs(position[5] - position[7]) == 1
    assert abs(position[2] - position[6]) == 1
    assert order == [0, 5, 7, 1, 2, 6, 3, 4]  # groups at their lowest class's place
    assert pictures.cluster_order(np.eye(4)).tolist() == [0, 1, 2, 3]


def test_confusion_png_at_101_classes_is_legible(tmp_path):
    """UCF101's size: one 19.5 px cell per class at 150 dpi, labels ~12 px tall."""
    rng = np.random.default_rng(0)
    names = [f'ClassName{i:03d}' for i in range(101)]
    m = np.diag(rng.integers(20, 45, 101))
    m[3, 50], m[50, 3], m[10, 90] = 12, 6, 9
    path = pictures.write_confusion_png(str(tmp_path / 'rgb_confusion.png'), m, names, 'rgb')
    png = open(path, 'rb').read()
    width, height = pictures.png_size(png)
    cells = 101 * pictures.CELL_INCHES * pictures.DPI
    assert cells / 101 >= 18  # pixels per class: room for a 6 pt label
    assert 1.1 * cells < width < 1.6 * cells and 1.1 * cells < height < 1.6 * cells
    image = np.asarray(Image.open(io.BytesIO(png)).convert('RGB'))
    assert image.shape == (height, width, 3)
    assert (image < 60).all(axis=-1).mean() > 0.005  # dark cells and text are drawn


def test_class_names_are_text_even_with_dollar_signs():
    png = pictures.confusion_png(np.eye(2, dtype=np.int64), [r'$\frac$', 'a $b$'], '$x')
    assert pictures.png_size(png)[0] > 100


def test_confusion_png_refuses_names_that_do_not_fit():
    with pytest.raises(ValueError, match='a \\(2, 2\\) matrix for 3 class names'):
        pictures.confusion_png(np.eye(2, dtype=np.int64), ['a', 'b', 'c'], 't')


def _kinetics_sized(occurring, seed=0):
    """A 400-class count matrix where only the classes `occurring` have videos or
    predictions (some confused with each other), and 400 names, some very long."""
    rng = np.random.default_rng(seed)
    m = np.zeros((400, 400), np.int64)
    m[occurring, occurring] = rng.integers(1, 6, len(occurring))
    half = len(occurring) // 2
    m[occurring[:half], occurring[half : 2 * half]] += rng.integers(0, 3, half)
    names = [
        f'class {i}' + (' with a very long name, longer than any' * 3 if i % 7 else '')
        for i in range(400)
    ]
    return m, names


def _drawn_names(fig):
    """The class names on the matrix's columns and rows (the row labels end in '(videos)')."""
    ax = fig.axes[0]
    columns = [t.get_text() for t in ax.get_xticklabels()]
    rows = [t.get_text().rsplit(' (', 1)[0] for t in ax.get_yticklabels()]
    return ax, columns, rows


def test_a_400_class_matrix_draws_the_classes_that_occur_legibly_and_fast():
    """Evaluating a Kinetics-400 model on a few dozen classes: those classes, not 400 empty
    rows (8386x8341 px and 15-54 s before; 19.5 s of CPU measured here, 1 s after)."""
    import matplotlib.figure  # noqa: F401  (imported before the CPU time is measured)

    occurring = np.random.default_rng(1).choice(400, 36, replace=False)
    m, names = _kinetics_sized(occurring)
    start = time.process_time()
    fig = pictures.confusion_figure(m, names, 'rgb')
    png = pictures.confusion_png(m, names, 'rgb')
    spent = (time.process_time() - start) / 2
    assert spent < 5, spent
    assert max(pictures.png_size(png)) <= 2000, pictures.png_size(png)
    ax, columns, rows = _drawn_names(fig)
    expected = {pictures._label(names[i]) for i in occurring}
    assert set(columns) == expected and set(rows) == expected and len(columns) == 36
    assert 'the 36 of 400 classes that occur' in ax.get_title().replace('\n', ' ')
    labels = ax.get_xticklabels() + ax.get_yticklabels()
    assert min(t.get_fontsize() for t in labels) >= 6  # points: ~12 px at 150 dpi
    assert max(len(c) for c in columns) <= pictures.LABEL_CHARS


def test_too_many_occurring_classes_draws_the_most_confused_and_says_so():
    occurring = np.arange(0, 400, 2)  # 200 classes occur
    m, names = _kinetics_sized(occurring, seed=2)
    confused = m.sum(0) + m.sum(1) - 2 * np.diag(m)
    fig = pictures.confusion_figure(m, names, 'rgb')
    ax, columns, _ = _drawn_names(fig)
    assert len(columns) == pictures.MAX_DRAWN
    drawn = [i for i in range(400) if pictures._label(names[i]) in columns]
    assert len(drawn) == pictures.MAX_DRAWN  # the cut names stay distinct
    assert confused[drawn].min() >= np.sort(confused)[-pictures.MAX_DRAWN]
    title = ax.get_title().replace('\n', ' ')
    assert f'the {pictures.MAX_DRAWN} most confused of the 200 classes that occur' in title
    assert max(pictures.png_size(pictures.confusion_png(m, names, 'rgb'))) <= 2000


def test_evaluation_reports_keep_the_whole_matrix_in_the_csv(tmp_path):
    from training import evaluation

    occurring = np.random.default_rng(3).choice(400, 30, replace=False)
    labels = np.repeat(occurring, 2)
    logits = np.zeros((len(labels), 400), np.float32)
    logits[np.arange(len(labels)), np.roll(labels, 1)] = 1.0  # half predicted as another
    logits[::2][np.arange(len(labels) // 2), labels[::2]] = 2.0
    names = [f'class {i}' for i in range(400)]
    ids = [f'v{i}' for i in range(len(labels))]
    evaluation.write_reports(str(tmp_path), 'rgb', ids, labels, logits, names)
    with open(tmp_path / 'rgb_confusion.csv') as f:
        rows = list(csv.reader(f))
    assert len(rows) == 401 and all(len(r) == 401 for r in rows)
    matrix = np.array([list(map(int, r[1:])) for r in rows[1:]])
    np.testing.assert_array_equal(matrix, evaluation.confusion(labels, logits, 400))
    width, height = pictures.png_size((tmp_path / 'rgb_confusion.png').read_bytes())
    assert max(width, height) <= 2000
