"""Training I3D: streams, tf.data input, BatchNorm tools, the loop, split metrics."""
