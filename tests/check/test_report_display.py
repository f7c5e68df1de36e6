"""gradcheck reports and compare results display as HTML tables, names escaped."""

from __future__ import annotations

import numpy as np

from chainrule import manual
from chainrule.check import compare, gradcheck


def _report(make_network, loss_of_arrays, *, wrong_b1: bool):
    x, y, params = make_network(6, 4, 5, 2)
    grads = manual.backward(manual.forward(x, y, params)[1])
    analytic = {name: grads[name] for name in ("w1", "b1")}
    if wrong_b1:
        analytic["b1"] = -analytic["b1"]
    return gradcheck(loss_of_arrays, {"x": x, "y": y, **params}, analytic)


def test_gradcheck_report_html_has_one_row_per_name(make_network, loss_of_arrays) -> None:
    html = _report(make_network, loss_of_arrays, wrong_b1=False)._repr_html_()
    assert html.count("<tr>") == 3
    assert "<th>name</th>" in html
    assert "<td>w1</td>" in html
    assert "every gradient agrees" in html


def test_gradcheck_report_html_marks_failures_and_diagnoses(make_network, loss_of_arrays) -> None:
    html = _report(make_network, loss_of_arrays, wrong_b1=True)._repr_html_()
    assert "<td><strong>b1</strong></td>" in html
    assert "failing: b1" in html
    assert "<li>diagnosis of b1: " in html
    assert "sign" in html


def test_gradcheck_report_html_escapes_names() -> None:
    point = np.array([1.0, 2.0])
    report = gradcheck(
        lambda arrays: float(np.sum(arrays["<a&b>"] ** 2)), {"<a&b>": point}, {"<a&b>": 2 * point}
    )
    html = report._repr_html_()
    assert "&lt;a&amp;b&gt;" in html
    assert "<a&b>" not in html


def test_comparison_html_is_a_one_row_table() -> None:
    html = compare("dw<1>", np.array([1.0, 2.0]), np.array([1.0, 2.5]))._repr_html_()
    assert html.count("<tr>") == 2
    assert "<td>dw&lt;1&gt;</td>" in html
    assert "<td>MISMATCH</td>" in html
    assert "<td>(2,)</td>" in html


def test_each_row_names_its_gradient_dtype_and_the_rtol_it_was_judged_with() -> None:
    point = np.array([1.0, -2.0])

    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["a"] ** 2).sum() + (arrays["b"] ** 2).sum() + arrays["c"].sum())

    report = gradcheck(
        loss,
        {"a": point, "b": point, "c": point},
        {"a": (2 * point).astype(np.float32), "b": 2 * point, "c": np.ones(2, dtype=np.int64)},
    )
    assert report.ok, report
    cells = {row.name: (row.dtype, row.rtol) for row in report.rows}
    # a float32 gradient passes within 1e-3, not 1e-5: the table must say which
    assert cells == {"a": ("float32", 1e-3), "b": ("float64", 1e-5), "c": ("int64", 1e-5)}
    lines = str(report).splitlines()
    assert lines[0].split()[:4] == ["name", "shape", "dtype", "status"]
    assert "float32 (rtol 0.001)" in lines[1]
    assert "float64 (rtol 1e-05)" in lines[2]
    assert "<td>int64 (rtol 1e-05)</td>" in report._repr_html_()
