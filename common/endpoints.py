"""What the scripts' flags say about the network, readable before TensorFlow loads.

Flag definitions run at import, before any check, so their choices and help cannot come
from i3d.py (which loads TensorFlow and Sonnet): i3d.VALID_ENDPOINTS is made from
FEATURE_ENDPOINTS; tests/test_startup.py checks the chunk sizes against those
inference/whole_video.py computes.
"""

# I3D's endpoints up to Mixed_5c (the ones with a temporal grid), in order.
FEATURE_ENDPOINTS = (
    'Conv3d_1a_7x7',
    'MaxPool3d_2a_3x3',
    'Conv3d_2b_1x1',
    'Conv3d_2c_3x3',
    'MaxPool3d_3a_3x3',
    'Mixed_3b',
    'Mixed_3c',
    'MaxPool3d_4a_3x3',
    'Mixed_4b',
    'Mixed_4c',
    'Mixed_4d',
    'Mixed_4e',
    'Mixed_4f',
    'MaxPool3d_5a_2x2',
    'Mixed_5b',
    'Mixed_5c',
)
DEFAULT_CHUNK_FRAMES = 256  # ~2.5 GB peak at 224x224 (README); 56% of each chunk is kept
MIN_CHUNK_FRAMES = 110  # whole_video.geometry('Mixed_5c').min_chunk_frames
