"""common/pictures.py: flow colours, captions, GIF/MP4 files, the confusion picture."""

import io
import os
import subprocess

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
