"""Differential-test operations: see diff_types.py."""

from diff_op import Op  # noqa: F401


class HashOps:
    COMMANDS: list = []
    TABLE: list = []
    MULTI_TABLE: list = []
