"""Running a per-video function over many videos: the local process pool (`pool`), Apache
Beam (`beam`), their flags (`flags`) and the manifest records (`records`). build_shards,
extract_features and fvd.py each bring only their per-video function; this package imports
nothing of the project but `common`."""
