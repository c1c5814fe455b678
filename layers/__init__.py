"""The ops below the networks, each a module with its own tests: the max pool whose gradient
goes to one input (`pooling`) and the convolution with a float32 bfloat16 filter gradient
where oneDNN's is wrong (`conv`). They import only TensorFlow, Sonnet and numpy, never the
modules above them (`i3d.py`)."""
