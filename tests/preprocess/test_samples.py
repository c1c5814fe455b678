"""preprocess.samples: DeepMind's sample clips from I3D_SAMPLE_DIR, the cache, or a download
checked against its SHA-256 (against a loopback HTTP server)."""

import contextlib
import functools
import http.server
import os
import socket
import threading

import pytest

from common import files
from preprocess import samples


@contextlib.contextmanager
def _http_server(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}/'
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sample_cache(tmp_path, monkeypatch):
    cache = tmp_path / 'cache'
    monkeypatch.setattr(samples, 'CACHE_DIR', str(cache))
    monkeypatch.delenv('I3D_SAMPLE_DIR', raising=False)
    return cache


def test_sample_download_checks_the_checksum_and_caches(sample_cache, monkeypatch, shared_path):
    served = os.path.dirname(shared_path('data', 'v_CricketShot_g04_c01_rgb.gif'))
    with _http_server(served) as url:
        monkeypatch.setenv('I3D_SAMPLE_URL', url)
        path = samples.sample_path('rgb')
    assert path == str(sample_cache / 'v_CricketShot_g04_c01_rgb.gif')
    assert files.sha256(path) == samples.SAMPLES['rgb'][1]
    monkeypatch.setenv('I3D_SAMPLE_URL', 'http://127.0.0.1:9/')  # cached: no network needed
    assert samples.sample_path('rgb') == path
    assert sorted(os.listdir(sample_cache)) == ['v_CricketShot_g04_c01_rgb.gif']


def test_sample_with_wrong_checksum_is_refused(sample_cache, monkeypatch, tmp_path, shared_path):
    tampered = tmp_path / 'served'
    tampered.mkdir()
    data = bytearray(open(shared_path('data', 'v_CricketShot_g04_c01_rgb.gif'), 'rb').read())
    data[-10] ^= 0xFF
    (tampered / 'v_CricketShot_g04_c01_rgb.gif').write_bytes(bytes(data))
    with _http_server(tampered) as url:
        monkeypatch.setenv('I3D_SAMPLE_URL', url)
        with pytest.raises(samples.SampleError, match='checksum mismatch .* refusing'):
            samples.sample_path('rgb')
    assert not sample_cache.exists() or os.listdir(sample_cache) == []


def test_sample_server_down_gives_a_clear_message(sample_cache, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    monkeypatch.setenv('I3D_SAMPLE_URL', f'http://127.0.0.1:{port}/')
    with pytest.raises(samples.SampleError, match='download failed .*set I3D_SAMPLE_DIR'):
        samples.sample_path('flow')
    assert os.listdir(sample_cache) == []


def test_sample_dir_override(monkeypatch, tmp_path, shared_path):
    monkeypatch.setenv('I3D_SAMPLE_DIR', str(tmp_path))
    with pytest.raises(samples.SampleError, match='not found'):
        samples.sample_path('rgb')
    folder = os.path.dirname(shared_path('data', 'v_CricketShot_g04_c01_rgb.gif'))
    monkeypatch.setenv('I3D_SAMPLE_DIR', folder)
    assert samples.sample_path('flow') == os.path.join(folder, 'v_CricketShot_g04_c01_flow.gif')


def test_sample_dir_files_are_used_as_they_are(monkeypatch, tmp_path):
    """A local copy is trusted (no checksum: e.g. a clone's own files); a missing one is
    one line naming the file and the variable."""
    monkeypatch.setenv('I3D_SAMPLE_DIR', str(tmp_path))
    (tmp_path / 'v_CricketShot_g04_c01_rgb.gif').write_bytes(b'not checked')
    assert samples.sample_path('rgb') == str(tmp_path / 'v_CricketShot_g04_c01_rgb.gif')
    with pytest.raises(samples.SampleError) as error:
        samples.sample_path('flow')
    missing = tmp_path / 'v_CricketShot_g04_c01_flow.gif'
    assert str(error.value) == f'{missing}: not found (I3D_SAMPLE_DIR={tmp_path})'


def test_a_cached_file_with_another_checksum_is_fetched_again(sample_cache, monkeypatch, tmp_path):
    name = samples.SAMPLES['rgb'][0]
    served = tmp_path / 'served'
    served.mkdir()
    (served / name).write_bytes(b'the right bytes')
    monkeypatch.setitem(samples.SAMPLES, 'rgb', (name, files.sha256(str(served / name))))
    sample_cache.mkdir()
    (sample_cache / name).write_bytes(b'a truncated download')
    with _http_server(served) as url:
        monkeypatch.setenv('I3D_SAMPLE_URL', url.rstrip('/'))  # with or without the slash
        assert samples.sample_path('rgb') == str(sample_cache / name)
    assert (sample_cache / name).read_bytes() == b'the right bytes'
    assert os.listdir(sample_cache) == [name]
