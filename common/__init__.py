"""The lowest layer: plain helpers every app may use (and that import none of them)."""
