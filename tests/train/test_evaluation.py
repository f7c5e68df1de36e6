"""Confusion matrix counts and its text table."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.train.evaluation import confusion_matrix, format_confusion
from chainrule.train.metrics import accuracy


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


def test_confusion_matrix_refuses_a_label_or_prediction_outside_the_classes() -> None:
    # A label -1 was counted silently in the last class's row.
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1 .* found -1 at index 1"):
        confusion_matrix(np.array([0, -1]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match=r"predictions must lie in 0\.\.1 .* found 2 at index 0"):
        confusion_matrix(np.array([0, 1]), np.array([2, 1]), 2)


def test_confusion_matrix_refuses_labels_of_another_shape() -> None:
    with pytest.raises(ValueError, match=r"shapes \(2, 1\) and \(2,\)"):
        confusion_matrix(np.array([[0], [1]]), np.array([0, 1]), 2)


def test_accuracy_is_the_fraction_of_rows_predicted_right() -> None:
    logits = np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [0.0, 5.0]])
    assert accuracy(logits, np.array([0, 0, 0, 1])) == 0.75


def test_accuracy_refuses_column_labels_that_would_broadcast() -> None:
    # Labels (N, 1) compared with the (N,) predictions made an (N, N) table: 0.5 here.
    logits = np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [0.0, 5.0]])
    with pytest.raises(ValueError, match=r"labels of shape \(4, 1\)"):
        accuracy(logits, np.array([[0], [0], [0], [1]]))
