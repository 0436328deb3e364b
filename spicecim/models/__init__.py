"""Models: the feed-forward MLP (:mod:`~spicecim.models.mlp`), its presets and positional
encoding, ONNX import, the JAX fitter and the digital baselines."""
