"""The NeRF application on top: the built-in scene, rays and volume rendering, image quality,
and the render pipeline with its mitigations ladder and design sweeps."""
