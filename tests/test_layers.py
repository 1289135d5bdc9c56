"""vdualib.layers on the Keras backend in use (run under KERAS_BACKEND=tensorflow and jax)."""

import keras
import numpy as np
import pytest
from keras import ops

from vdualib import layers

numpy = ops.convert_to_numpy


def _encoder(latent_dim=4, features=6, seed=0, **kwargs):
    encoder = layers.GaussianEncoder(latent_dim, seed=seed, **kwargs)
    encoder.build((None, features))
    return encoder


def _draw(mu, sigma, n, seed=0):
    noise = np.random.default_rng(seed).normal(size=(n,) + np.shape(mu)).astype(np.float32)
    return np.asarray(mu)[None] + np.asarray(sigma)[None] * noise


def test_encoder_shapes_sigma_floor_and_modes(rng):
    encoder = _encoder()
    x = rng.normal(size=(5, 6)).astype(np.float32)
    z, mu, sigma = encoder(x, training=False, return_moments=True)
    assert mu.shape == sigma.shape == z.shape == (5, 4)
    # sigma = softplus(rho - 5) + floor
    params = numpy(encoder.projection(x))
    np.testing.assert_allclose(numpy(sigma), np.log1p(np.exp(params[:, 4:] - 5.0)) + 1e-4, rtol=1e-5)
    np.testing.assert_allclose(numpy(z), numpy(mu))  # the mean at inference
    assert encoder(x, training=True).shape == (5, 4)
    samples = numpy(encoder(x, num_samples=3))
    assert samples.shape == (3, 5, 4)
    assert not np.allclose(samples[0], samples[1])


@pytest.mark.parametrize("num_samples", [None, 0, 1, 7])
def test_compute_output_shape_matches_the_call_for_every_num_samples(num_samples, rng):
    encoder = _encoder()
    x = rng.normal(size=(5, 6)).astype(np.float32)
    out = encoder(x, training=True, num_samples=num_samples)
    assert tuple(out.shape) == encoder.compute_output_shape((5, 6), num_samples=num_samples)
    symbolic = encoder(keras.Input((6,)), num_samples=num_samples)
    expected = ((num_samples,) if num_samples is not None else ()) + (None, 4)
    assert tuple(symbolic.shape) == expected


def test_encoder_samples_have_the_right_moments(rng):
    encoder = _encoder(latent_dim=2, features=3)
    x = rng.normal(size=(1, 3)).astype(np.float32)
    z, mu, sigma = encoder(x, num_samples=20000, return_moments=True)
    np.testing.assert_allclose(numpy(z)[:, 0].mean(0), numpy(mu)[0], atol=0.003)
    np.testing.assert_allclose(numpy(z)[:, 0].std(0), numpy(sigma)[0], rtol=0.03)


def test_the_distribution_is_e_of_z_given_x_on_the_backend(rng):
    encoder = _encoder()
    x = rng.normal(size=(5, 6)).astype(np.float32)
    mu, sigma = (numpy(t) for t in encoder.moments(x))
    e = encoder.distribution(x)
    assert tuple(e.batch_shape) == (5,) and tuple(e.event_shape) == (4,)
    z = rng.normal(size=(5, 4)).astype(np.float32)
    expected = -np.sum(0.5 * ((z - mu) / sigma) ** 2 + np.log(sigma) + 0.5 * np.log(2 * np.pi), axis=1)
    np.testing.assert_allclose(numpy(e.log_prob(z)), expected, rtol=1e-5)


def test_reparameterised_gradients_reach_mu_and_rho(rng, gradient):
    encoder = _encoder()
    x = rng.normal(size=(5, 6)).astype(np.float32)
    grad = gradient(lambda: ops.sum(encoder(x, num_samples=4) ** 2), encoder.projection.kernel)
    assert np.abs(grad[:, :4]).sum() > 0  # mu half
    assert np.abs(grad[:, 4:]).sum() > 0  # rho half (through sigma * eps)


def test_the_encoder_adds_beta_times_the_mean_rate_and_reports_it(rng):
    encoder = _encoder(prior="standard_normal", beta=0.25)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    z, mu, sigma = encoder(x, training=True, return_moments=True)
    mu, sigma = numpy(mu), numpy(sigma)
    rate = 0.5 * np.sum(mu**2 + sigma**2 - 1 - 2 * np.log(sigma), axis=1)
    assert len(encoder.losses) == 1
    assert float(encoder.losses[0]) == pytest.approx(0.25 * rate.mean(), rel=1e-5)
    if keras.backend.backend() == "tensorflow":  # Keras on JAX cannot update a layer's metric in a compiled step
        assert float(encoder.rate_tracker.result()) == pytest.approx(rate.mean(), rel=1e-5)
    else:
        assert encoder.rate_tracker is None
    # no prior: no rate, no metric
    plain = _encoder()
    plain(x, training=True)
    assert plain.losses == [] and plain.rate_tracker is None


def test_class_conditional_encoder_needs_labels_in_training(rng, runtime_error):
    encoder = _encoder(latent_dim=2, prior=layers.ClassConditionalPrior(3, seed=0), beta=1.0)
    x = rng.normal(size=(2, 6)).astype(np.float32)
    with pytest.raises(ValueError, match="needs the labels in training"):
        encoder(x, training=True)
    encoder(x, training=True, labels=np.array([2, 0]))
    assert len(encoder.losses) == 1
    encoder(x, training=False)  # inference without labels and without samples: no Monte Carlo rate
    assert encoder.losses == []
    with pytest.raises(runtime_error, match="labels must be < 3"):
        encoder(x, training=True, labels=np.array([3, 0]))


def test_standard_normal_rate_closed_form_and_monte_carlo(rng):
    prior = layers.StandardNormalPrior()
    prior.build((None, 3))
    mu = rng.normal(size=(4, 3)).astype(np.float32)
    sigma = rng.uniform(0.3, 2.0, size=(4, 3)).astype(np.float32)
    rate = numpy(prior(mu, sigma))
    expected = 0.5 * np.sum(mu**2 + sigma**2 - 1 - 2 * np.log(sigma), axis=1)
    np.testing.assert_allclose(rate, expected, rtol=1e-5)
    z = _draw(mu, sigma, 40000)
    posterior = layers.gaussian_posterior(mu, sigma)
    monte_carlo = numpy(posterior.log_prob(z) - prior.distribution().log_prob(z)).mean(axis=0)
    np.testing.assert_allclose(monte_carlo, expected, atol=0.05)


def test_mixture_prior_rate_is_unbiased_monte_carlo():
    prior = layers.MixturePrior(num_components=3, seed=1)
    prior.build((None, 2))
    mu = np.array([[0.3, -0.2]], np.float32)
    sigma = np.array([[0.4, 0.7]], np.float32)
    rate = numpy(prior(mu, sigma, z=_draw(mu, sigma, 50000)))[0]
    # numerical integration of KL on a grid
    grid = np.linspace(-5, 5, 801)
    zz = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
    log_e = numpy(layers.gaussian_posterior(mu[0], sigma[0]).log_prob(zz))
    log_r = numpy(prior.distribution().log_prob(zz))
    cell = (grid[1] - grid[0]) ** 2
    exact = np.sum(np.exp(log_e) * (log_e - log_r)) * cell
    assert rate == pytest.approx(exact, abs=0.03)
    with pytest.raises(ValueError, match="samples z"):
        prior(mu, sigma)


def test_class_conditional_prior_uses_the_label():
    prior = layers.ClassConditionalPrior(num_classes=3, seed=0)
    prior.build((None, 2))
    mu = prior.means.numpy()[[2, 0]]
    sigma = np.ones_like(mu) * (1 + 1e-4)
    rate = numpy(prior(mu, sigma, labels=np.array([2, 0])))
    np.testing.assert_allclose(rate, 0.0, atol=1e-3)  # e equals b(z|y)
    wrong = numpy(prior(mu, sigma, labels=np.array([0, 2])))
    assert np.all(wrong > 0.1)
    assert prior(mu, sigma, z=_draw(mu, sigma, 2000)).shape == (2,)


def test_mixture_and_class_conditional_priors_share_their_components():
    mixture, conditional = layers.MixturePrior(4, seed=2), layers.ClassConditionalPrior(4, seed=2)
    for prior in (mixture, conditional):
        prior.build((None, 3))
    np.testing.assert_array_equal(mixture.means.numpy(), conditional.means.numpy())
    assert [w.name for w in mixture.weights] == ["means", "raw_scales", "logits"]
    assert [w.name for w in conditional.weights] == ["means", "raw_scales"]


# Each layer with every constructor argument away from its default: a round trip through the
# config must bring back each of these values (comparing a clone's config with the original's
# could not see a field that get_config forgot).
_NON_DEFAULT = {
    layers.GaussianEncoder: dict(
        latent_dim=8,
        prior=layers.MixturePrior(3),
        beta=0.125,
        scale_shift=3.0,
        min_scale=1e-3,
        kernel_regularizer="l2",
        seed=3,
        track_rate=False,
    ),
    layers.MixturePrior: dict(num_components=4, seed=7),
    layers.ClassConditionalPrior: dict(num_classes=5, class_prior=[0.1, 0.2, 0.3, 0.2, 0.2], seed=9),
}


def _round_trip_keeps(cls, arguments, config):
    clone = keras.saving.deserialize_keras_object(config)
    for key, value in arguments.items():
        got = getattr(clone, key)
        if key == "prior":
            got, value = (type(got), got.num_components), (type(value), value.num_components)
        elif key == "beta":
            got = float(got.numpy())
        elif key == "kernel_regularizer":
            got, value = got is not None, True
        if got != value:
            return False
    return True


@pytest.mark.parametrize("cls", list(_NON_DEFAULT))
def test_layers_round_trip_every_field_through_config(cls):
    arguments = _NON_DEFAULT[cls]
    layer = cls(**arguments)
    config = keras.saving.serialize_keras_object(layer)
    assert _round_trip_keeps(cls, arguments, config)
    # the check has teeth: a config that forgot any one field does not round-trip
    for key in arguments:
        forgetful = {**config, "config": {k: v for k, v in config["config"].items() if k != key}}
        try:
            kept = _round_trip_keeps(cls, arguments, forgetful)
        except (TypeError, ValueError, AttributeError):
            kept = False
        assert not kept, key


def test_float32_math_under_mixed_bfloat16(rng):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        encoder = layers.GaussianEncoder(4)
        encoder.build((None, 6))
        _, mu, sigma = encoder(ops.cast(rng.normal(size=(2, 6)), "bfloat16"), return_moments=True)
        assert keras.backend.standardize_dtype(mu.dtype) == keras.backend.standardize_dtype(sigma.dtype) == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_dim": 0}, "latent_dim must be a positive integer"),
        ({"latent_dim": -3}, "latent_dim must be a positive integer"),
        ({"latent_dim": 2.5}, "latent_dim must be a positive integer"),
        ({"min_scale": 0.0}, "min_scale must be > 0"),
        ({"min_scale": float("nan")}, "min_scale must be a finite number"),
        ({"beta": float("inf")}, "beta must be a finite number"),
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"prior": "laplace"}, "Unknown prior"),
        ({"prior": "class_conditional"}, "ClassConditionalPrior\\(num_classes\\)"),
    ],
)
def test_encoder_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.GaussianEncoder(**{"latent_dim": 4, **kwargs})


def test_encoder_rejects_negative_num_samples(rng):
    with pytest.raises(ValueError, match="num_samples must be an integer >= 0"):
        _encoder()(rng.normal(size=(2, 6)).astype(np.float32), num_samples=-1)


def test_priors_reject_bad_arguments():
    with pytest.raises(ValueError, match="Unknown prior"):
        layers.get_prior("laplace")
    with pytest.raises(ValueError, match="class_prior contains NaN"):
        layers.ClassConditionalPrior(2, class_prior=[float("nan"), 1.0])
    with pytest.raises(ValueError, match="class_prior must be non-negative and sum to 1"):
        layers.ClassConditionalPrior(2, class_prior=[0.7, 0.7])


def test_beta_without_a_prior_is_refused_not_ignored(rng):
    with pytest.raises(ValueError, match=r"beta=0\.01 needs a prior.*prior='standard_normal' for the VIB's N\(0, I\)"):
        layers.GaussianEncoder(16, beta=1e-2)
    # a config naming beta without a prior (hand-edited or crafted) is refused as well (Keras'
    # from_config reports the ValueError inside a TypeError)
    config = _encoder(prior="standard_normal", beta=0.01).get_config()
    with pytest.raises((TypeError, ValueError), match="needs a prior"):
        layers.GaussianEncoder.from_config(dict(config, prior=None))
    # beta = 0 without a prior: a stochastic layer without a rate, nothing added to the losses
    plain = _encoder(beta=0.0)
    x = rng.normal(size=(3, 6)).astype(np.float32)
    plain(x, training=True)
    assert plain.prior is None and not plain.losses
    # with a prior, the same beta weighs the rate
    weighed = _encoder(prior="standard_normal", beta=0.01)
    weighed(x, training=True)
    assert len(weighed.losses) == 1 and float(weighed.losses[0]) > 0


def test_a_backend_without_a_tfp_substrate_is_refused_at_construction(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(ValueError, match="substrates for the TensorFlow and JAX backends.*KERAS_BACKEND=jax"):
        layers.GaussianEncoder(4)
    with pytest.raises(ValueError, match="KERAS_BACKEND"):
        layers.StandardNormalPrior()
