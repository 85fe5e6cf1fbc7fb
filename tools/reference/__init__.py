"""Independent PyTorch reference of Wan2.1 (written from docs/MODEL.md
and the official design, never from ref/). Same names and file split as ref/.
Everything runs in float64 for the goldens."""
