import keras
import numpy as np
import pytest
import tensorflow as tf

from vdualib import layers


def _encoder(latent_dim=4, features=6, seed=0):
    encoder = layers.GaussianEncoder(latent_dim, seed=seed)
    encoder.build((None, features))
    return encoder


def test_encoder_shapes_sigma_floor_and_modes(rng):
    encoder = _encoder()
    x = rng.normal(size=(5, 6)).astype(np.float32)
    mu, sigma = encoder.moments(x)
    assert mu.shape == sigma.shape == (5, 4)
    # sigma = softplus(rho - 5) + floor
    params = encoder.projection(x).numpy()
    np.testing.assert_allclose(sigma.numpy(), np.log1p(np.exp(params[:, 4:] - 5.0)) + 1e-4, rtol=1e-5)
    np.testing.assert_allclose(encoder(x, training=False).numpy(), mu.numpy())
    assert encoder(x, training=True).shape == (5, 4)
    samples = encoder(x, num_samples=3).numpy()
    assert samples.shape == (3, 5, 4)
    assert not np.allclose(samples[0], samples[1])


def test_encoder_samples_have_the_right_moments():
    encoder = _encoder(latent_dim=2, features=3)
    mu = tf.constant([[1.0, -2.0]])
    sigma = tf.constant([[0.5, 2.0]])
    z = encoder.sample(mu, sigma, 20000).numpy()[:, 0, :]
    np.testing.assert_allclose(z.mean(0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(0), [0.5, 2.0], rtol=0.03)


def test_reparameterised_gradients_reach_mu_and_rho(rng):
    encoder = _encoder()
    x = tf.constant(rng.normal(size=(5, 6)).astype(np.float32))
    with tf.GradientTape() as tape:
        z = encoder(x, num_samples=4)
        loss = tf.reduce_sum(z**2)
    kernel = encoder.projection.kernel
    grad = tape.gradient(loss, kernel).numpy()
    assert np.abs(grad[:, :4]).sum() > 0  # mu half
    assert np.abs(grad[:, 4:]).sum() > 0  # rho half (through sigma * eps)


def test_standard_normal_rate_closed_form_and_monte_carlo(rng):
    prior = layers.StandardNormalPrior()
    prior.build((None, 3))
    mu = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    sigma = tf.constant(rng.uniform(0.3, 2.0, size=(4, 3)).astype(np.float32))
    rate = prior.rate(mu, sigma).numpy()
    expected = 0.5 * np.sum(mu.numpy() ** 2 + sigma.numpy() ** 2 - 1 - 2 * np.log(sigma.numpy()), axis=1)
    np.testing.assert_allclose(rate, expected, rtol=1e-5)
    encoder = _encoder(latent_dim=3)
    z = encoder.sample(mu, sigma, 40000)
    monte_carlo = prior._monte_carlo_rate(mu, sigma, z, prior.distribution()).numpy()
    np.testing.assert_allclose(monte_carlo, expected, atol=0.05)


def test_mixture_prior_rate_is_unbiased_monte_carlo(rng):
    prior = layers.MixturePrior(num_components=3, seed=1)
    prior.build((None, 2))
    mu = tf.constant([[0.3, -0.2]])
    sigma = tf.constant([[0.4, 0.7]])
    z = _encoder(latent_dim=2).sample(mu, sigma, 50000)
    rate = prior.rate(mu, sigma, z=z).numpy()[0]
    # numerical integration of KL on a grid
    grid = np.linspace(-5, 5, 801)
    zz = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
    log_e = layers.GaussianEncoder.distribution(mu[0], sigma[0]).log_prob(zz).numpy()
    log_r = prior.distribution().log_prob(zz).numpy()
    cell = (grid[1] - grid[0]) ** 2
    exact = np.sum(np.exp(log_e) * (log_e - log_r)) * cell
    assert rate == pytest.approx(exact, abs=0.03)
    with pytest.raises(ValueError, match="samples z"):
        prior.rate(mu, sigma)


def test_class_conditional_prior_uses_the_label(rng):
    prior = layers.ClassConditionalPrior(num_classes=3, seed=0)
    prior.build((None, 2))
    mu = tf.constant(prior.means.numpy()[[2, 0]])
    sigma = tf.ones_like(mu) * (1 + 1e-4)
    rate = prior.rate(mu, sigma, labels=tf.constant([2, 0])).numpy()
    np.testing.assert_allclose(rate, 0.0, atol=1e-3)  # e equals b(z|y)
    wrong = prior.rate(mu, sigma, labels=tf.constant([0, 2])).numpy()
    assert np.all(wrong > 0.1)
    z = _encoder(latent_dim=2).sample(mu, sigma, 2000)
    assert prior.rate(mu, sigma, z=z).shape == (2,)


def test_layers_round_trip_through_config():
    for layer in (layers.GaussianEncoder(8, min_scale=1e-3, seed=3), layers.MixturePrior(4), layers.ClassConditionalPrior(5)):
        config = keras.saving.serialize_keras_object(layer)
        clone = keras.saving.deserialize_keras_object(config)
        assert type(clone) is type(layer)
        assert clone.get_config() == layer.get_config()


def test_float32_math_under_mixed_bfloat16(rng):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        encoder = layers.GaussianEncoder(4)
        encoder.build((None, 6))
        mu, sigma = encoder.moments(tf.constant(rng.normal(size=(2, 6)), tf.bfloat16))
        assert mu.dtype == tf.float32 and sigma.dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5])
def test_encoder_rejects_bad_latent_dim(latent_dim):
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        layers.GaussianEncoder(latent_dim)


def test_get_prior_rejects_unknown_names():
    with pytest.raises(ValueError, match="Unknown prior"):
        layers.get_prior("laplace")
