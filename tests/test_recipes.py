"""The recipes: the zoo's training settings, their overrides and checks, what a record of one
says (weight decay, targets, fields changed since)."""

import json

import pytest

from vdualib import recipes


def test_recipes_cover_the_zoo_and_validate_overrides():
    names = recipes.recipe_names()
    assert len(names) == 9
    for dataset, backbone in (("mnist", "mlp"), ("fashion-mnist", "convnet"), ("cifar10", "resnet20")):
        group = [recipes.RECIPES[f"{dataset}-{m}-{backbone}"] for m in ("deterministic", "vib", "dualib")]
        shared = ("backbone", "optimizer", "learning_rate", "lr_schedule", "epochs", "batch_size", "augment", "seed")
        for key in shared:
            assert len({json.dumps(r[key]) for r in group}) == 1, key
    recipe = recipes.get_recipe("mnist-dualib-mlp", ["beta=0.01", "epochs=3", "augment=none"])
    assert recipe["beta"] == 0.01 and recipe["epochs"] == 3 and recipe["augment"] == "none"
    with pytest.raises(ValueError, match="Unknown recipe field"):
        recipes.get_recipe("mnist-dualib-mlp", ["betta=1"])
    with pytest.raises(ValueError, match="Unknown recipe"):
        recipes.get_recipe("mnist-ceb-mlp")
    with pytest.raises(ValueError, match="set label_noise to smoothing"):
        recipes.get_recipe("mnist-dualib-mlp", ["label_noise=none"])
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        recipes.get_recipe("mnist-dualib-mlp", ["epochs=0"])
    with pytest.raises(ValueError, match="part of the recipe's name"):
        recipes.get_recipe("mnist-vib-mlp", ["dataset=cifar10"])
    with pytest.raises(ValueError, match="label_noise_reference"):
        recipes.get_recipe("mnist-vib-mlp", ["label_noise=confusion"])
    paper = recipes.RECIPES["cifar10-dualib-resnet20"]
    assert paper["label_noise"] == "confusion" and paper["label_noise_reference"] == "cifar10-deterministic-resnet20"
    assert paper["prior"] == "class_conditional" and paper["distortion_warmup"] == 0.1
    assert paper["distortion_warmup_steps"] * paper["batch_size"] == 4000 * 64
    # records written before a field existed still validate, with the field's neutral default
    old = {k: v for k, v in recipes.RECIPES["mnist-vib-mlp"].items() if k not in ("weight_ema", "backbone_width")}
    assert recipes.get_recipe(old)["weight_ema"] == 0.0
    # ... except where the base default changed behaviour: decay used to reach a learned prior
    assert not any(r["prior_weight_decay"] for r in recipes.RECIPES.values())
    assert recipes.get_recipe({k: v for k, v in old.items() if k != "prior_weight_decay"})["prior_weight_decay"] is True
    for bad in ("prior_weight_decay=maybe", "prior_weight_decay=2"):
        with pytest.raises(ValueError, match="expected true/false"):
            recipes.get_recipe("mnist-dualib-mlp", [bad])
    with pytest.raises(ValueError, match="prior_weight_decay must be true or false"):
        recipes.get_recipe(dict(recipes.RECIPES["mnist-dualib-mlp"], prior_weight_decay=1))


@pytest.mark.parametrize(
    "override, message",
    [
        ("weight_decay=nan", "weight_decay must be a finite number"),
        ("learning_rate=inf", "learning_rate must be a finite number"),
        ("learning_rate=0", "learning_rate must be > 0"),
        ("momentum=nan", "momentum must be a finite number"),
        ("momentum=1.0", "momentum must be < 1"),
        ("beta=-inf", "beta must be a finite number"),
        ("label_smoothing=nan", "label_smoothing must be a finite number"),
        ("distortion_warmup=nan", "distortion_warmup must be a finite number"),
        ("weight_ema=1", "weight_ema must be < 1"),
        ("backbone_width=0", "backbone_width must be > 0"),
        ("dataset=cifar10", "part of the recipe's name"),
        ("method=dualib", "use --recipe mnist-dualib-mlp"),
    ],
)
def test_recipes_refuse_nan_infinite_and_renaming_overrides(override, message):
    with pytest.raises(ValueError, match=message):
        recipes.get_recipe("mnist-vib-mlp", [override])


def test_a_setting_the_recipe_does_not_read_is_refused():
    with pytest.raises(ValueError, match=r"beta is not read .*deterministic method has no stochastic bottleneck"):
        recipes.get_recipe("mnist-deterministic-mlp", ["beta=0.01"])
    with pytest.raises(ValueError, match=r"momentum is not read .*optimizer is adam"):
        recipes.get_recipe("mnist-vib-mlp", {"momentum": 0.5})
    with pytest.raises(ValueError, match=r"backbone_l2 is not read .*mlp backbone"):
        recipes.get_recipe("mnist-vib-mlp", ["backbone_l2=1e-4"])
    # the same value, or a field switched on in the same overrides, is fine
    assert recipes.get_recipe("mnist-deterministic-mlp", ["beta=0.0"])["beta"] == 0.0
    assert recipes.get_recipe("mnist-vib-mlp", ["optimizer=sgd", "momentum=0.5"])["momentum"] == 0.5


def test_every_vib_recipe_is_the_standard_vib():
    for name, recipe in recipes.RECIPES.items():
        if "-vib-" in name:
            assert recipe["label_noise"] == "none" and recipe["prior"] == "standard_normal", name


def test_describe_weight_decay_names_each_mechanism():
    for name, recipe in recipes.RECIPES.items():
        described = recipes.describe_weight_decay(recipe)
        assert described["mechanisms"] == (1 if recipe["weight_decay"] else 0), name
    # a CIFAR-10 record from before recipes decided the decay: SGDW on every variable plus the backbone's L2
    old = {k: v for k, v in recipes.get_recipe("cifar10-deterministic-resnet20").items()
           if k not in ("weight_decay_scope", "backbone_l2", "lr_warmup_epochs", "prior_weight_decay")}
    described = recipes.describe_weight_decay(old)
    assert described["mechanisms"] == 2
    assert described["coupled_l2"]["value"] == 1e-4
    assert described["decoupled"]["applies_to"] == "every trainable variable"
    assert recipes.outdated_fields(old) == {
        "backbone_l2": {"trained": 1e-4, "current": 0.0},
        "weight_decay_scope": {"trained": "all", "current": "kernels"},
    }
    dualib = recipes.describe_weight_decay(recipes.RECIPES["cifar10-dualib-resnet20"])
    assert dualib["decoupled"]["excluded"] == ["biases", "normalization parameters", "the learned prior's means and scales"]
    with pytest.raises(ValueError, match="must be a dict"):
        recipes.describe_weight_decay("cifar10-dualib-resnet20")


def test_outdated_fields_names_what_changed_since_a_model_was_trained():
    current = recipes.get_recipe("mnist-vib-mlp")
    assert recipes.outdated_fields(current) == {}
    assert recipes.outdated_fields(dict(current, epochs=30, learning_rate=1e-3)) == {
        "epochs": {"trained": 30, "current": 200},
        "learning_rate": {"trained": 1e-3, "current": 1e-4},
    }
    # a record from before a field existed takes the field's default (here: no weight averaging)
    old = {k: v for k, v in current.items() if k != "weight_ema"}
    assert recipes.outdated_fields(old) == {"weight_ema": {"trained": 0.0, "current": 0.999}}
    # fields the recipe switches off are not differences: a deterministic model's beta schedule,
    # Adam's momentum, the decay of a cosine schedule
    deterministic = recipes.get_recipe("cifar10-deterministic-resnet20")
    assert recipes.outdated_fields(dict(deterministic, beta_epochs=3, beta_schedule="linear")) == {}
    assert recipes.outdated_fields(dict(current, momentum=0.5)) == {}
    # decay of the prior matters only with decay and a learned prior: the CIFAR-10 VdualIB's
    # record from before the field existed differs, the MNIST one (no decay) and a VIB's do not
    before = {k: v for k, v in recipes.get_recipe("cifar10-dualib-resnet20").items() if k != "prior_weight_decay"}
    assert recipes.outdated_fields(before) == {"prior_weight_decay": {"trained": True, "current": False}}
    for name in ("mnist-dualib-mlp", "cifar10-vib-resnet20"):
        assert recipes.outdated_fields({k: v for k, v in recipes.get_recipe(name).items() if k != "prior_weight_decay"}) == {}
    fashion = recipes.get_recipe("fashion-mnist-vib-convnet")
    assert recipes.outdated_fields(dict(fashion, lr_decay_rate=0.5)) == {}
    # switching a feature on or off shows the switch, and the fields it brings as None on one side
    smoothing = dict(recipes.get_recipe("mnist-dualib-mlp"), label_noise="smoothing")
    changed = recipes.outdated_fields(smoothing)
    assert changed["label_noise"] == {"trained": "smoothing", "current": "confusion"}
    assert changed["label_noise_reference"] == {"trained": None, "current": "mnist-deterministic-mlp"}
    # a CIFAR-10 VIB trained on labels smoothed by 0.1 is not today's standard (one-hot) VIB
    smoothed = dict(recipes.get_recipe("cifar10-vib-resnet20"), label_noise="smoothing", label_smoothing=0.1)
    assert recipes.outdated_fields(smoothed) == {
        "label_noise": {"trained": "smoothing", "current": "none"},
        "label_smoothing": {"trained": 0.1, "current": None},
    }
    # a valid name without a built-in recipe, and records that are not recipes
    assert recipes.outdated_fields(dict(current, backbone="resnet20")) is None
    with pytest.raises(ValueError, match="lacks \\['method'\\]"):
        recipes.outdated_fields({k: v for k, v in current.items() if k != "method"})
    with pytest.raises(ValueError, match="must be a dict"):
        recipes.outdated_fields(None)
    with pytest.raises(ValueError, match="epochs"):
        recipes.outdated_fields(dict(current, epochs=float("nan")))
    with pytest.raises(ValueError, match="Unknown recipe fields"):
        recipes.outdated_fields(dict(current, epochz=3))


def test_describe_targets_names_what_each_recipe_trains_towards():
    assert recipes.describe_targets(recipes.RECIPES["mnist-vib-mlp"]) == "one-hot"
    assert recipes.describe_targets(recipes.RECIPES["cifar10-vib-resnet20"]) == "one-hot"
    smoothed = recipes.get_recipe("cifar10-vib-resnet20", ["label_noise=smoothing", "label_smoothing=0.1"])
    assert recipes.describe_targets(smoothed) == "smoothed by 0.1"
    assert recipes.describe_targets(recipes.RECIPES["fashion-mnist-dualib-convnet"]) == (
        "confusion p~ of fashion-mnist-deterministic-convnet"
    )
    teacher = recipes.get_recipe("mnist-dualib-mlp", ["label_noise=teacher", "label_noise_reference=runs/t.keras"])
    assert recipes.describe_targets(teacher) == "teacher p~ of runs/t.keras"
    with pytest.raises(ValueError, match="must be a dict"):
        recipes.describe_targets("mnist-vib-mlp")
    with pytest.raises(ValueError, match="label_noise"):
        recipes.describe_targets(dict(recipes.RECIPES["mnist-vib-mlp"], label_noise="sometimes"))


@pytest.mark.parametrize("name, overrides, message", [
    (["mnist-vib-mlp"], (), "recipe must be a zoo recipe name \\(a str\\) or a recipe dict, got list"),
    ("mnist-vib-mlp", "epochs=3", "overrides must be a list of 'key=value' strings or a dict, got str 'epochs=3'; pass \\['epochs=3'\\]"),
    ("mnist-vib-mlp", 3, "overrides must be a list of 'key=value' strings or a dict, got int 3"),
    ("mnist-vib-mlp", [3], "override 3 must be a 'key=value' string"),
    ("mnist-vib-mlp", [b"epochs=3"], "must be a 'key=value' string"),
    ("mnist-vib-mlp", ["beta=1e39"], "beta must be <= 3.40"),  # float32 tensors
    ("mnist-vib-mlp", ["backbone_width=1e300"], "backbone_width must be <= 3.40"),
    ("mnist-vib-mlp", ["epochs=10000000000000000000000"], "epochs must be at most 2147483647"),
    ("mnist-vib-mlp", ["seed=4294967296"], "seed must be at most 4294967295"),  # Keras' seeds
])
def test_overrides_and_values_tensorflow_cannot_take_are_refused(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        recipes.get_recipe(name, overrides)


def test_no_overrides_may_be_given_as_none_and_a_repeated_key_takes_its_last_value():
    assert recipes.get_recipe("mnist-vib-mlp", None) == recipes.get_recipe("mnist-vib-mlp")
    assert recipes.get_recipe("mnist-vib-mlp", ["epochs=1", "epochs=100"])["epochs"] == 100
    assert recipes.get_recipe("mnist-vib-mlp", ["seed=4294967295"])["seed"] == 4294967295
