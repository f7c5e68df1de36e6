"""`DatasetError`: the one exception for data that cannot be used as it is.

Raised for truncated, corrupt or mislabelled files and for failed downloads; the message
names the file and what is wrong with it (expected against found).
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A data file (or a download of one) is truncated, corrupt or inconsistent."""
