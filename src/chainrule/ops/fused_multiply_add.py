"""a * b + c rounded once (a fused multiply-add) on float64 arrays, which NumPy lacks:
the exact product as two doubles (Dekker), then the sum rounded to odd and once to nearest
(Boldo and Melquiond's emulation). `arange` uses it to give torch's float64 values."""

from __future__ import annotations

import numpy as np

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's split of a double into two 26-bit halves


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s, e with s = a + b rounded and s + e = a + b exactly (Knuth)."""
    s = a + b
    v = s - a
    return s, (a - (s - v)) + (b - v)


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p, e with p = a * b rounded and p + e = a * b exactly (Dekker), without overflow."""
    p = a * b
    scaled_a, scaled_b = _SPLIT * a, _SPLIT * b
    a_high = scaled_a - (scaled_a - a)
    b_high = scaled_b - (scaled_b - b)
    a_low, b_low = a - a_high, b - b_high
    return p, ((a_high * b_high - p) + a_high * b_low + a_low * b_high) + a_low * b_low


def _sum_rounded_to_odd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b rounded to the neighbour whose last bit is odd where it is inexact, so that a
    second rounding to nearest cannot round twice."""
    s, e = _two_sum(a, b)
    even = (s.view(np.int64) & 1) == 0
    toward = np.nextafter(s, np.where(e > 0, np.inf, -np.inf))
    rounded: np.ndarray = np.where((e != 0) & even, toward, s)
    return rounded


def fused_multiply_add(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a * b + c in float64, rounded once (as C's fma), for finite values without overflow."""
    product_high, product_low = _two_product(a, b)
    high, low = _two_sum(c, product_high)
    result: np.ndarray = high + _sum_rounded_to_odd(low, product_low)
    return result
