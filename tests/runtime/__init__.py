"""Running converted models: the Session and its states, other runtimes and their bugs, CUDA, tune, quantize."""
