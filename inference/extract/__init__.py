"""extract_features.py in pieces: videos -> prepare (decode, flow) -> features -> run | beam."""
