"""vdualib.ib.reduction: grouping coincident clusters (one at a time and batched), merging and dropping
clusters, twins and padding, and that a merged fixed point is still one (tests/ib/conftest.py's equations)."""

import numpy as np
import pytest

from vdualib import ib
from vdualib.ib.reduction import coincident_groups, coincident_labels, duplicate_clusters, merge_clusters, pad_clusters


def test_coincident_groups_links_chains_and_keeps_order():
    rows = np.array([[0.5, 0.5], [0.2, 0.8], [0.5 + 4e-7, 0.5 - 4e-7], [0.5 + 8e-7, 0.5 - 8e-7], [0.9, 0.1]])
    np.testing.assert_array_equal(coincident_groups(rows, 1e-6), [0, 1, 0, 0, 2])  # 0-2-3 linked as a chain
    np.testing.assert_array_equal(coincident_groups(rows, 1e-7), [0, 1, 2, 3, 4])
    many = np.repeat(np.random.default_rng(0).dirichlet(np.ones(16), size=150), 2, axis=0)  # pdist path
    labels = coincident_groups(many, 1e-9)
    assert labels.max() == 149 and np.all(labels[::2] == labels[1::2])


def test_coincident_groups_of_no_row_or_one_row():
    assert coincident_groups(np.zeros((0, 3)), 1e-6).tolist() == []
    assert coincident_groups(np.array([[0.2, 0.8]]), 1e-6).tolist() == [0]


def test_batched_labels_and_twins_match_one_item_at_a_time():
    rng = np.random.default_rng(3)
    rows = rng.dirichlet(np.ones(3), size=(6, 7))
    rows[:, 4] = rows[:, 1]  # coincident with row 1
    rows[:, 6] = rows[:, 0] * (1 - 1e-9) + 1e-9 / 3  # within 1e-6 of row 0
    alive = rng.random((6, 7)) > 0.25
    labels = coincident_labels(rows, alive, 1e-6)
    for item in range(6):
        np.testing.assert_array_equal(labels[item, alive[item]], coincident_groups(rows[item, alive[item]], 1e-6))
        assert np.all(labels[item, ~alive[item]] == -1)
    px = rng.dirichlet(np.ones(5))
    encoder = rng.dirichlet(np.ones(3), size=(2, 5))
    encoder[1, :, 2] = 0.0  # the second item has two live clusters
    encoder[1] /= encoder[1].sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        twinned, got_twins = duplicate_clusters(np.log(encoder), px, 4)
    assert twinned.shape == (2, 5, 4) and got_twins.tolist() == [True, True]
    np.testing.assert_allclose(np.exp(twinned).sum(axis=2), 1.0, atol=1e-12)
    for item, (n_live, n_twins) in enumerate([(3, 1), (2, 2)]):
        mass = px @ encoder[item][:, :n_live]
        heaviest = np.argsort(-mass)[:n_twins]
        twin_mass = px @ np.exp(twinned[item])
        np.testing.assert_allclose(twin_mass[n_live: n_live + n_twins], mass[heaviest] / 2, atol=1e-12)
        np.testing.assert_allclose(twin_mass[heaviest], mass[heaviest] / 2, atol=1e-12)


def test_without_room_for_twins_the_encoder_comes_back_as_it_is():
    log_encoder = np.log(np.full((2, 3, 2), 0.5))
    same, got_twins = duplicate_clusters(log_encoder, np.full(3, 1 / 3), 2)
    assert same is log_encoder and got_twins.tolist() == [False, False]


def test_merge_clusters_adds_coincident_columns_and_drops_empty_ones():
    px = np.array([0.5, 0.5])
    encoder = np.array([[[0.5, 0.5, 0.0], [0.2, 0.2, 0.6]],    # clusters 0 and 1 coincide
                        [[0.6, 0.4, 0.0], [0.6, 0.4, 0.0]]])   # cluster 2 is empty
    decoder = np.array([[[0.3, 0.7], [0.3, 0.7], [0.9, 0.1]],
                        [[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]])
    with np.errstate(divide="ignore"):
        expected = np.log([[[1.0, 0.0], [0.4, 0.6]], [[0.6, 0.4], [0.6, 0.4]]])
    log_encoder, kept_prefix = merge_clusters(encoder, decoder, px, 1e-6, 1e-12)
    np.testing.assert_allclose(log_encoder, expected)
    assert kept_prefix.tolist() == [False, True]  # the second item only lost its trailing empty column
    distinct = merge_clusters(encoder[1:, :, :2], decoder[1:, :2], px, 1e-6, 1e-12)
    assert distinct[0] is None and distinct[1].tolist() == [True]


def test_merge_clusters_keeps_the_heaviest_cluster_when_none_has_enough_mass():
    encoder = np.array([[[0.7, 0.3], [0.5, 0.5]]])  # p(x_hat) = (0.6, 0.4), both below mass_tol
    decoder = np.array([[[0.3, 0.7], [0.9, 0.1]]])
    log_encoder, kept_prefix = merge_clusters(encoder, decoder, np.array([0.5, 0.5]), 1e-6, mass_tol=0.9)
    np.testing.assert_allclose(log_encoder, np.zeros((1, 2, 1)), atol=1e-15)  # rows renormalised onto cluster 0
    assert kept_prefix.tolist() == [True]


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_merging_coincident_clusters_keeps_the_solution(method, toy_joint, encoder_from_equations, information_bits):
    pxy, beta = toy_joint, 6.0
    solution = ib.solve(pxy, beta, method=method, seed=0, tol=1e-13, accelerate=False)
    px = pxy.sum(axis=1)
    n_distinct = ib.effective_cardinality(solution.encoder, px)
    assert 1 < n_distinct < 5  # some of the 5 clusters coincide
    log_encoder, _ = merge_clusters(solution.encoder[None], solution.decoder[None], px, 1e-6, 1e-12)
    assert log_encoder.shape[2] == n_distinct
    merged = np.exp(pad_clusters(log_encoder, 5)[0])
    recomputed, _ = encoder_from_equations(pxy, merged, beta, method)
    np.testing.assert_allclose(recomputed, merged, atol=1e-8, rtol=0)
    np.testing.assert_allclose(information_bits(pxy, merged), (solution.ixt, solution.ity), atol=1e-9)


def test_pad_clusters_appends_empty_columns():
    log_encoder = np.log(np.array([[[0.25, 0.75], [0.5, 0.5]]]))
    padded = pad_clusters(log_encoder, 4)
    assert padded.shape == (1, 2, 4)
    np.testing.assert_array_equal(padded[:, :, :2], log_encoder)
    assert np.all(padded[:, :, 2:] == -np.inf)
    assert pad_clusters(log_encoder, 2) is log_encoder
