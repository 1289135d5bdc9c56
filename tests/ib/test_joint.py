"""vdualib.ib.joint: validation of p(x, y) (also as the solvers meet it), joints from labels, entropies,
mutual information and the maximal correlation against closed forms."""

import numpy as np
import pytest

from vdualib import ib


def test_joint_from_labels_values():
    pxy = ib.joint_from_labels(np.array([1, 0]), n_classes=3, label_noise=0.3)
    np.testing.assert_allclose(pxy, [[0.05, 0.4, 0.05], [0.4, 0.05, 0.05]])
    for bad in (dict(labels=np.array([0.5, 1.0])), dict(labels=np.array([0, 3]), n_classes=2),
                dict(labels=np.array([0, 1]), label_noise=1.5), dict(labels=np.array([0, 1]), px=[0.2, 0.2])):
        with pytest.raises(ValueError):
            ib.joint_from_labels(**bad)


def test_joint_from_labels_weights_rows_by_px_and_names_what_it_refuses():
    pxy = ib.joint_from_labels(np.array([0, 1, 1]), px=[0.5, 0.25, 0.25])
    np.testing.assert_allclose(pxy, [[0.5, 0.0], [0.0, 0.25], [0.0, 0.25]])
    for kwargs, message in ((dict(labels=np.array([], dtype=int)), "non-empty 1-D integer"),
                            (dict(labels=np.array([[0, 1]])), "non-empty 1-D integer"),
                            (dict(labels=np.array([-1, 1])), ">= 0"),
                            (dict(labels=np.array([0, 0])), "n_classes=1 must be >= 2"),
                            (dict(labels=np.array([0, 1]), label_noise=-0.1), r"label_noise must be in \[0, 1\]"),
                            (dict(labels=np.array([0, 1]), px=[0.5, 0.5, 0.0]), "one entry per label")):
        with pytest.raises(ValueError, match=message):
            ib.joint_from_labels(**kwargs)


@pytest.mark.parametrize(
    "pxy, message",
    [
        (np.array([[0.6, -0.1], [0.3, 0.2]]), "negative"),
        (np.array([[0.3, 0.3], [0.3, 0.3]]), "sums to"),
        (np.array([[np.nan, 0.5], [0.25, 0.25]]), "NaN"),
        (np.array([[0.5, 0.5], [0.0, 0.0]]), "all-zero rows"),
        (np.array([0.5, 0.5]), "2-D"),
    ],
)
def test_invalid_joint_raises(pxy, message):
    with pytest.raises(ValueError, match=message):
        ib.solve(pxy, 1.0)
    with pytest.raises(ValueError, match=message):
        ib.curve(pxy, [1.0, 2.0])


def test_validate_joint_returns_float64_and_names_the_argument():
    pxy = ib.validate_joint([[0.25, 0.25], [0.5, 0]])  # a nested list, with an integer
    assert pxy.dtype == np.float64 and pxy.shape == (2, 2)
    with pytest.raises(ValueError, match=r"^joint sums to 2, not 1"):
        ib.validate_joint(np.eye(2), name="joint")
    with pytest.raises(ValueError, match=r"x indices \[1\]"):
        ib.validate_joint([[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="2-D"):
        ib.validate_joint(np.zeros((0, 2)))


def test_entropy_bits_against_closed_forms():
    assert ib.entropy_bits(np.array([0.5, 0.5])) == pytest.approx(1.0)
    assert ib.entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)
    assert ib.entropy_bits(np.array([1.0, 0.0])) == 0.0  # 0 log 0 = 0, not NaN
    p = 0.1
    binary = [-(q * np.log2(q) + (1 - q) * np.log2(1 - q)) for q in (p, 0.25)]
    np.testing.assert_allclose(ib.entropy_bits(np.array([[p, 1 - p], [0.25, 0.75]])), binary)
    np.testing.assert_allclose(ib.entropy_bits(np.array([[0.5, 1.0], [0.5, 0.0]]), axis=0), [1.0, 0.0])


def test_mutual_information_bits_against_its_definition(random_joint):
    assert ib.mutual_information_bits(np.eye(4) / 4) == pytest.approx(2.0)
    assert ib.mutual_information_bits(np.outer([0.2, 0.8], [0.3, 0.3, 0.4])) == pytest.approx(0.0, abs=1e-12)
    pxy = random_joint(5, 3, seed=1)
    px, py = pxy.sum(axis=1), pxy.sum(axis=0)
    direct = sum(pxy[x, y] * np.log2(pxy[x, y] / (px[x] * py[y])) for x in range(5) for y in range(3))
    assert ib.mutual_information_bits(pxy) == pytest.approx(direct, abs=1e-12)


def test_maximal_correlation_closed_form():
    # Binary symmetric channel with uniform input: rho = |1 - 2 eps|.
    eps = 0.2
    pxy = 0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]])
    assert ib.maximal_correlation(pxy) == pytest.approx(1 - 2 * eps)


def test_maximal_correlation_of_a_binary_y_is_the_spread_of_p_y_given_x(random_joint):
    # For binary Y every centred g(Y) is a multiple of 1{Y=1} - p(y=1), and the best f(X) is E[g(Y)|X]:
    # rho^2 = Var_x p(y=1|x) / (p(y=1) (1 - p(y=1))).
    pxy = random_joint(6, 2, seed=4)
    px = pxy.sum(axis=1)
    p1_x = pxy[:, 1] / px
    p1 = pxy[:, 1].sum()
    variance = np.sum(px * (p1_x - p1) ** 2)
    assert ib.maximal_correlation(pxy) == pytest.approx(np.sqrt(variance / (p1 * (1 - p1))), rel=1e-10)
    assert ib.maximal_correlation(np.outer([0.1, 0.6, 0.3], [0.5, 0.5])) == 0.0  # rounding noise is returned as 0
    assert ib.maximal_correlation(np.array([[0.3], [0.7]])) == 0.0  # one value of y: nothing to correlate


@pytest.mark.parametrize("kwargs, message", [
    (dict(px=[np.nan, 0.5]), "NaN"),  # NaN <= 0 is False: checked for what it is
    (dict(px=[0.5, np.inf]), "NaN"),
    (dict(px=[0.5, 0.5], n_classes=2.5), "n_classes"),
    (dict(px=[0.5, 0.5], n_classes="3"), "n_classes"),
    (dict(px=[0.5, 0.5], n_classes=float("nan")), "n_classes"),
    (dict(px=[0.5, 0.5], label_noise="0.1"), "label_noise"),
    (dict(px=[0.5, 0.5], label_noise=np.nan), "label_noise"),
    (dict(px=[0.5, 0.5], label_noise=True), "label_noise"),
    (dict(px=[0.5, 0.5], label_noise=[0.1]), "label_noise"),
])
def test_joint_from_labels_refuses_non_numbers_and_nan(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ib.joint_from_labels([0, 1], **kwargs)


def test_validate_marginal_names_the_argument():
    np.testing.assert_array_equal(ib.joint.validate_marginal([0.25, 0.75], 2), [0.25, 0.75])
    for px, message in (([0.5, np.nan], "NaN"), ([1.0], "of 2"), ([1.0, 0.0], "positive distribution"),
                        ("ab", "numbers"), (None, "None")):
        with pytest.raises(ValueError, match=message):
            ib.joint.validate_marginal(px, 2, "weights")


def test_tiny_entries_neither_underflow_nor_leave_rounding_below_zero():
    pxy = [[1 - 2e-200, 1e-200], [1e-200, 0.0]]
    with np.errstate(all="raise"):
        assert ib.maximal_correlation(pxy) == 0.0
    rng = np.random.default_rng(0)
    for _ in range(50):  # independent joints: rounding may not make the information negative
        assert ib.mutual_information_bits(np.outer(rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(4)))) >= 0.0
