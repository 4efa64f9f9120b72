"""Model seams: one sub-package per seam, each with ``base.py`` and one module per backend."""
