"""The ops below the networks, each a module with its own tests: DeepMind's BatchNorm with
Sonnet 1's moving averages (`batch_norm`), the max pool whose gradient goes to one input
(`pooling`) and the convolution with a float32 bfloat16 filter gradient where oneDNN's is
wrong (`conv`). They import only TensorFlow, Sonnet and numpy, never the modules above them
(`i3d.py`; tests/layers/test_layers.py)."""
