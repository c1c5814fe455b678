"""preprocess.video: 25 fps by timestamp, the short-side resize, the centre crop, RGB and
the [-1, 1] scaling, and one clear error per unreadable file."""

from unittest import mock

import cv2
import numpy as np
import pytest
from videos import decode_index, index_video, write_video

from preprocess import video


@pytest.mark.parametrize(
    'fps, count, expected',
    [
        (30, 60, 50),  # 2 s
        (29.97, 90, 75),  # 3.003 s -> 75.075 frames
        (12, 30, 63),  # 2.5 s -> 62.5
        (60, 120, 50),  # 2 s
        (25, 40, 40),
        (15, 1, 2),  # one frame, shown for 1/15 s
    ],
)
def test_resampled_frame_count_follows_duration(tmp_path, fps, count, expected):
    path = index_video(tmp_path / 'v.avi', fps, count)
    frames = video.read_video(path, short_side=None)
    assert len(frames) == expected


@pytest.mark.parametrize('fps', [30, 29.97, 12, 60])
def test_resampling_picks_the_frame_on_screen(tmp_path, fps):
    count = int(round(fps * 2))
    path = index_video(tmp_path / 'v.avi', fps, count)
    frames = video.read_video(path, short_side=None)
    picked = [decode_index(f) for f in frames]
    # Output frame k is the source frame nearest to k / 25 s: round(k * fps / 25).
    expected = [min(int(np.floor(k * fps / 25 + 0.5)), count - 1) for k in range(len(frames))]
    assert picked == expected


def test_clip_bounds_and_frame_cap(tmp_path):
    path = index_video(tmp_path / 'v.avi', 50, 200)  # 4 s
    frames = video.read_video(path, start=1.0, end=2.0, short_side=None)
    assert [decode_index(f) for f in frames] == list(range(50, 100, 2))
    assert len(video.read_video(path, max_frames=7, short_side=None)) == 7
    with pytest.raises(video.VideoError, match=r'no decodable frames in \[5.0, 6.0\] s'):
        video.read_video(path, start=5.0, end=6.0)


@pytest.mark.parametrize('codec, ext', [('MJPG', 'avi'), ('mp4v', 'mp4')])
def test_clip_deep_into_a_long_video_seeks_and_keeps_exact_frames(tmp_path, codec, ext):
    path = index_video(tmp_path / f'long.{ext}', 25, 250, codec=codec)  # 10 s
    frames = video.read_video(path, start=7.0, end=8.0, short_side=None)
    assert [decode_index(f) for f in frames] == list(range(175, 200))
    first = next(video.iter_video(path, start=5.52, short_side=None))
    assert decode_index(first) == 138  # 5.52 s * 25 fps


def test_resize_short_side_and_center_crop():
    frame = np.zeros((100, 300, 3), np.uint8)
    resized = video.resize_short_side(frame)
    assert resized.shape == (256, 768, 3)
    assert video.resize_short_side(np.zeros((600, 400, 3), np.uint8)).shape == (384, 256, 3)
    clip = np.arange(2 * 256 * 340 * 3).reshape(2, 256, 340, 3)
    crop = video.center_crop(clip)
    assert crop.shape == (2, 224, 224, 3)
    np.testing.assert_array_equal(crop, clip[:, 16:240, 58:282])


def test_resize_is_bilinear():
    frame = np.random.default_rng(0).integers(0, 255, (128, 160, 3), dtype=np.uint8)
    expected = cv2.resize(frame, (320, 256), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(video.resize_short_side(frame), expected)


def test_frames_are_rgb_and_scaled_to_unit_range(tmp_path):
    bgr = np.zeros((64, 64, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in OpenCV's BGR order
    path = write_video(tmp_path / 'blue.avi', 25, [bgr] * 3)
    frames = video.read_video(path)
    assert frames.shape == (3, 256, 256, 3)
    assert frames[..., 2].mean() > 200 and frames[..., 0].mean() < 50  # RGB: blue is last
    x = video.rgb_to_model_input(np.array([0, 255], np.uint8))
    np.testing.assert_allclose(x, [-1.0, 1.0])


@pytest.mark.parametrize(
    'bad, message',
    [
        ('missing.mp4', 'no such file'),
        ('junk.mp4', 'OpenCV cannot open it'),
        ('folder.mp4', 'is a folder, not a file'),
        ('locked.mp4', r'cannot read \(Permission denied\)'),
    ],
)
def test_unreadable_videos_name_the_file(tmp_path, monkeypatch, bad, message):
    path = tmp_path / bad
    if bad == 'junk.mp4':
        path.write_bytes(b'this is not a video')
    elif bad == 'folder.mp4':
        path.mkdir()
    elif bad == 'locked.mp4':
        path.write_bytes(b'x')
        # As a file without read permission opens for a normal user (root reads anything).
        denied = PermissionError(13, 'Permission denied')
        monkeypatch.setattr(video, 'open', mock.Mock(side_effect=denied), raising=False)
    with pytest.raises(video.VideoError, match=f'{path}: {message}'):
        video.read_video(str(path))
