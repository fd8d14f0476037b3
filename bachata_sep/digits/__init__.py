"""Digits proof of concept: find one MNIST digit in an overlay of four, given another example.

The smallest end-to-end check of query-by-example separation as segmentation, run on the
same ``ConditionedUNet`` as the audio models.
"""

from .cli import register

__all__ = ["register"]
