"""Confusion matrix counts and its text table."""

from __future__ import annotations

import numpy as np

from chainrule.train.evaluation import confusion_matrix, format_confusion


def test_confusion_matrix_counts_true_rows_and_predicted_columns() -> None:
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    assert matrix.shape == (3, 3)
    np.testing.assert_array_equal(matrix, expected)


def test_table_has_a_row_per_class_with_its_recall() -> None:
    matrix = np.array([[3, 1], [0, 4]])
    lines = format_confusion(matrix, ("cat", "dog")).splitlines()
    assert lines[2].split() == ["cat", "3", "1", "0.750"]
    assert lines[3].split() == ["dog", "0", "4", "1.000"]
