"""The controlled study of the dual IB (issue 11): which ingredient of the paper's VdualIB recipe
changes what, measured over seeds against the VIB trained on the same p~.

Seven arms (:data:`ARMS`, the one place they are decided) share one schedule per data set
(:data:`SCHEDULES`) and differ only in the fields the table names:

==========================  =============  ====================================================
arm                         method         label noise, prior, warm-up
==========================  =============  ====================================================
``deterministic``           deterministic  one-hot cross-entropy, no bottleneck
``vib``                     vib            one-hot cross-entropy, N(0, I)
``vib-same-noise``          vib            cross-entropy to the paper's confusion p~, b(z|y)
``dualib-paper``            dualib         confusion p~, class-conditional b(z|y), warm-up
``dualib-smoothing``        dualib         epsilon-smoothing (epsilon 0.02) instead of confusion
``dualib-standard-prior``   dualib         N(0, I) instead of b(z|y)
``dualib-no-warmup``        dualib         no cross-entropy warm-up
==========================  =============  ====================================================

Every stochastic arm uses the paper recipe's beta (1e-3), so ``vib-same-noise`` and
``dualib-paper`` differ only in the direction of the KL (and the warm-up, which adds a
cross-entropy the VIB already minimises). p~ is the confusion matrix of the data set's zoo
deterministic model (``mnist-deterministic-mlp``, ``fashion-mnist-deterministic-convnet``) on
the run's held-out validation split (:func:`vdualib.training.label_noise_from_recipe`).

**Schedule** (:data:`SCHEDULES`, chosen by measurement). The zoo recipes take 15-200 epochs;
the whole study, 7 arms x 3 seeds x 2 data sets = 42 runs and their evaluations, has to fit about
two hours of this 2-core machine, so every run is short:

* MNIST: the mlp, all 55,000 training examples, 6 epochs of batch 100, Adam 1e-3 with cosine
  decay, no weight averaging, no augmentation (the zoo's 2-pixel shifts pay off over its 200
  epochs). ``dualib-paper`` (seed 0) reaches 97.8% test accuracy, the deterministic arm 98.4%
  (the zoo's 30-epoch models: 98.4-98.6%).
* Fashion-MNIST: the convnet at width 1, all 55,000 examples, 6 epochs of batch 128, AdamW 2e-3
  with cosine decay, no augmentation (in six epochs crop+flip only slows the fit: 5 epochs of
  30,000 augmented examples left ``dualib-paper`` at 79.6%). ``dualib-paper`` (seed 0) reaches
  86.6% (the zoo's 15 epochs at width 2: 90-91%).

The paper's warm-up (lambda_0 = 0.1 over 4,000 steps of batch 64: 256,000 examples) would span
most of such a run, so it decays over the first :data:`WARMUP_FRACTION` of the run's steps (825
steps on MNIST, 644 on Fashion-MNIST).

Measured on seed 0 of ``dualib-paper`` (the slowest arm) while a CIFAR-10 training and other
tests shared the two cores (load average 5-7): MNIST 162 s of training and 17 s for both
evaluations (138 CPU-seconds of the process); Fashion-MNIST 358 s and 62 s (363 CPU-seconds);
the deterministic MNIST arm 118 s and 13 s (116 CPU-seconds). The whole study is thus about
21 x 130 + 21 x 350 = 10,100 CPU-seconds: about 105 minutes on the two cores alone if
TensorFlow uses them at 1.6x one core (84 minutes at 2x, 170 at 1x), and about 3.3 hours
beside a training like today's. Every row records ``train_seconds``, ``eval_seconds`` and
``cpu_seconds``, and the report's cost table sums them.

**Measures** (:data:`MEASURES`), each for the two prediction modes of
:data:`vdualib.evaluation.PREDICTIONS` (``mu``: the decoder at the mean, the paper's protocol;
``samples``: the mean over :data:`NUM_SAMPLES` encoder samples), one row each:

* ``accuracy``, ``nll`` (nats) and ``ece`` (:data:`NUM_BINS` equal-width bins) on the test split;
* ``ece_after_ts``: the ECE after temperature scaling fitted on the run's validation split;
* ``shift_accuracy`` / ``shift_ece``: the mean over the corruptions :data:`SHIFT_CORRUPTIONS`
  at severity :data:`SHIFT_SEVERITY` (``vdualib.corruptions``) of the test split;
* ``ood_auroc``: AUROC of the max-probability score ``1 - max_k p_k`` separating the test split
  from each set of ``datasets.info(dataset).ood`` (MNIST against Fashion-MNIST, the reverse,
  noise images for CIFAR-10), averaged over the sets (each is kept in ``ood_auroc_by_set``);
* ``confident_train_errors``: training examples (the run's own) predicted wrong with a
  top-label confidence above :data:`CONFIDENCE_THRESHOLD`.

**Verdict rule** (:func:`verdict`): arm A is *better* than arm B on a measure when the means over
seeds differ in A's favour by more than the sum of the two sample standard deviations (ddof=1),
``d * (mean_A - mean_B) > std_A + std_B`` with d = +1 where higher is better and -1 where lower is
better; *worse* when the same holds in B's favour; *undecided* otherwise, and when either arm has
fewer than two seeds (no spread to compare with). ``dualib-paper`` is compared with
``vib-same-noise``; an ingredient *carries* a decided difference on a measure when, by the same
rule, ``dualib-paper`` differs from the ablation that drops it in the same direction (better than
the ablation where it beats ``vib-same-noise``, worse where it loses to it).

CIFAR-10 enters through trained models (:func:`evaluate_models`, e.g. the zoo's
``cifar10-{deterministic,vib,dualib}-resnet20``), one seed each, as rows of the same schema
whose arm is the method's name.

Files: ``run_study(out_dir, ...)`` writes ``out_dir/study.json`` after each finished run (atomic);
:func:`render_report` writes ``study.md``, ``study.png`` and the README block ``readme.md`` from
the JSON alone.

Example:
    >>> from scripts.lab import dualib_study
    >>> dualib_study.arm_recipe("dualib-no-warmup", "mnist", seed=1)["distortion_warmup"]
    0.0
    >>> study = dualib_study.run_study("runs/study", dataset_names=["mnist"], seeds=[0])   # doctest: +SKIP
    >>> dualib_study.render_report(study, "runs/study")                                # doctest: +SKIP
"""

import dataclasses
import os
import resource
import time

import numpy as np
from tqdm.auto import tqdm

from vdualib import (
    checks,
    corruptions,
    datasets,
    evaluation,
    methods,
    metrics,
    plotting,
    recipes,
    reports,
    training,
    zoo,
)
from vdualib.evaluation import data

__all__ = [
    "Arm",
    "ARMS",
    "ARM_NAMES",
    "SCHEDULES",
    "SMOKE_SCHEDULE",
    "FULL",
    "FULL_ARMS",
    "FULL_DATASETS",
    "WARMUP_FRACTION",
    "SMOOTHING_EPSILON",
    "SHIFT_CORRUPTIONS",
    "SHIFT_SEVERITY",
    "CONFIDENCE_THRESHOLD",
    "NUM_BINS",
    "NUM_SAMPLES",
    "MEASURES",
    "PREDICTIONS",
    "get_arm",
    "arm_recipe",
    "count_confident_errors",
    "EvaluationSets",
    "evaluation_sets",
    "evaluate_model",
    "protocol",
    "run_study",
    "evaluate_models",
    "run_models",
    "merge_rows",
    "check_runs",
    "summarize",
    "verdict",
    "verdicts",
    "study_figure",
    "render_report",
    "report_markdown",
    "readme_block",
]

#: sentinel of :data:`ARMS`: take the field's value from the data set's paper recipe
#: (``recipes.RECIPES["{slug}-dualib-{backbone}"]``)
PAPER = "<paper>"
#: the epsilon of the reference code's smoothing option
SMOOTHING_EPSILON = 0.02
#: the cross-entropy warm-up decays to 0 over this fraction of a study run's steps
WARMUP_FRACTION = 0.25
#: corruptions of the shifted test split: one each of the noise, blur, weather, digital and
#: geometric families that apply to grayscale and RGB images alike
SHIFT_CORRUPTIONS = ("gaussian_noise", "motion_blur", "fog", "contrast", "elastic_transform")
SHIFT_SEVERITY = 3
#: a training error counts as confident above this top-label probability
CONFIDENCE_THRESHOLD = 0.9
NUM_BINS = 15
#: encoder samples of the ``samples`` prediction
NUM_SAMPLES = 12
#: prediction modes, each a row: the decoder at mu (the paper's protocol) first
PREDICTIONS = ("mu", "samples")

#: measure -> (direction: +1 higher is better, -1 lower is better; description for the report)
MEASURES = {
    "accuracy": (+1, "test accuracy"),
    "nll": (-1, "test NLL (nats)"),
    "ece": (-1, f"test ECE ({NUM_BINS} bins)"),
    "ece_after_ts": (-1, "test ECE after temperature scaling fitted on the validation split"),
    "shift_accuracy": (+1, f"accuracy under corruption (severity {SHIFT_SEVERITY}, mean of {len(SHIFT_CORRUPTIONS)})"),
    "shift_ece": (-1, f"ECE under corruption (severity {SHIFT_SEVERITY}, mean of {len(SHIFT_CORRUPTIONS)})"),
    "ood_auroc": (+1, "OOD AUROC of the max-probability score"),
    "confident_train_errors": (-1, f"training examples wrong with confidence > {CONFIDENCE_THRESHOLD}"),
}


@dataclasses.dataclass(frozen=True)
class Arm:
    """One arm of the study.

    Attributes:
        name: its fixed name (``"dualib-paper"``), as the JSON stores it.
        method: the :mod:`vdualib.methods` name whose data-set recipe it starts from.
        description: what it is, for the report.
        overrides: recipe fields it sets; :data:`PAPER` takes the paper recipe's value.
        drops: the ingredient of ``dualib-paper`` an ablation removes (``None`` otherwise).
    """

    name: str
    method: str
    description: str
    overrides: dict
    drops: str = None


_PAPER_BETA = {"beta": PAPER}
_PAPER_NOISE = {"label_noise": PAPER, "label_noise_reference": PAPER, "label_noise_mixing": PAPER}
_PAPER_ALL = {**_PAPER_BETA, **_PAPER_NOISE, "prior": PAPER, "distortion_warmup": PAPER}

#: arm name -> :class:`Arm`, in report order
ARMS = {
    arm.name: arm
    for arm in (
        Arm("deterministic", "deterministic", "one-hot cross-entropy, no bottleneck", {"label_noise": "none"}),
        Arm(
            "vib",
            "vib",
            "VIB: one-hot cross-entropy, N(0, I) prior",
            {**_PAPER_BETA, "label_noise": "none", "prior": "standard_normal"},
        ),
        Arm(
            "vib-same-noise",
            "vib",
            "VIB: cross-entropy to the paper's confusion p~, class-conditional prior",
            {**_PAPER_BETA, **_PAPER_NOISE, "prior": PAPER, "distortion_warmup": 0.0},
        ),
        Arm("dualib-paper", "dualib", "VdualIB, the paper's recipe: confusion p~, class-conditional prior, warm-up", _PAPER_ALL),
        Arm(
            "dualib-smoothing",
            "dualib",
            f"dualib-paper with epsilon-smoothing ({SMOOTHING_EPSILON}) instead of confusion p~",
            {**_PAPER_ALL, "label_noise": "smoothing", "label_smoothing": SMOOTHING_EPSILON},
            drops="confusion p~",
        ),
        Arm(
            "dualib-standard-prior",
            "dualib",
            "dualib-paper with the N(0, I) prior",
            {**_PAPER_ALL, "prior": "standard_normal"},
            drops="class-conditional prior",
        ),
        Arm(
            "dualib-no-warmup",
            "dualib",
            "dualib-paper without the cross-entropy warm-up",
            {**_PAPER_ALL, "distortion_warmup": 0.0},
            drops="cross-entropy warm-up",
        ),
    )
}
ARM_NAMES = tuple(ARMS)
#: the controlled comparison, and the one for models named after their method (the zoo)
_COMPARISONS = (("dualib-paper", "vib-same-noise"), ("dualib", "vib"))

#: data set -> recipe overrides shared by every arm (the schedule; see the module docstring)
SCHEDULES = {
    "mnist": {
        "epochs": 6,
        "train_size": 0,
        "validation_size": 5000,
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "weight_ema": 0.0,
        "augment": "none",
    },
    "fashion_mnist": {
        "epochs": 6,
        "train_size": 0,
        "validation_size": 5000,
        "backbone_width": 1.0,
        "augment": "none",
    },
}
#: the full schedule: each arm takes its data set's zoo recipe unchanged (Fashion-MNIST: the
#: convnet at width 2, crop and flip, 40 epochs, and the paper's whole warm-up of 4,000 steps of
#: batch 64), for the arms that answer the headline question, on the paper's data set
FULL = "full"
FULL_ARMS = ("deterministic", "vib", "vib-same-noise", "dualib-paper")
FULL_DATASETS = ("fashion_mnist",)
#: what ``--smoke`` lays over a schedule: a run of seconds that exercises every step
SMOKE_SCHEDULE = {"epochs": 1, "train_size": 500, "validation_size": 300, "batch_size": 50}
#: fields the arms decide; a schedule may not set them
_ARM_FIELDS = frozenset(
    {"seed", "distortion_warmup_steps", "method", "dataset", "backbone"}
    | {key for arm in ARMS.values() for key in arm.overrides}
)


def get_arm(name):
    """The :class:`Arm` called ``name``; ``ValueError`` with the choices otherwise."""
    if isinstance(name, Arm):
        return name
    if name not in ARMS:
        raise ValueError(f"Unknown arm {name!r}; choose from {list(ARMS)}.")
    return ARMS[name]


def _check_schedule(dataset, schedule):
    if schedule == FULL:
        if dataset not in FULL_DATASETS:
            raise ValueError(f"the full schedule is run on {list(FULL_DATASETS)}, not {dataset!r}.")
        return FULL
    if schedule is None:
        if dataset not in SCHEDULES:
            raise ValueError(f"the study has no schedule for {dataset!r}; pass one or use {sorted(SCHEDULES)}.")
        return dict(SCHEDULES[dataset])
    bad = sorted(set(schedule) & _ARM_FIELDS)
    if bad:
        raise ValueError(f"a schedule is shared by every arm and may not set {bad}; the arms table decides them.")
    return dict(schedule)


def _paper_recipe(dataset):
    info = datasets.info(dataset)
    return recipes.RECIPES[recipes.model_name(info.name, "dualib", info.backbone)]


def arm_recipe(arm, dataset, seed=0, schedule=None, reference=None):
    """The recipe of one run: the data set's recipe of the arm's method, the schedule, the arm.

    Args:
        arm: a name of :data:`ARMS`.
        dataset: ``"mnist"`` or ``"fashion_mnist"`` (any data set with a zoo recipe works when
            ``schedule`` is given).
        seed: the run's seed (initialisation, data order and the validation split).
        schedule: recipe overrides shared by every arm (default :data:`SCHEDULES` of the data
            set); it may not set a field the arms decide. :data:`FULL` (``"full"``) takes the
            zoo recipe's schedule unchanged, the paper's warm-up length included.
        reference: the p~ reference (zoo name or ``.keras`` path) instead of the paper recipe's,
            for arms with confusion label noise.

    Returns:
        A validated recipe dict. With a warm-up, ``distortion_warmup_steps`` is
        :data:`WARMUP_FRACTION` of the run's optimizer steps (at least 1).

    Example:
        >>> r = arm_recipe("vib-same-noise", "mnist")
        >>> r["method"], r["label_noise"], r["prior"]
        ('vib', 'confusion', 'class_conditional')
    """
    arm = get_arm(arm)
    info = datasets.info(dataset)
    seed = checks.non_negative_int("seed", seed)
    paper = _paper_recipe(info.name)
    overrides = _check_schedule(info.name, schedule)
    if overrides == FULL:
        if arm.name not in FULL_ARMS:
            raise ValueError(f"the full schedule runs the arms {list(FULL_ARMS)}, not {arm.name!r}.")
        overrides, schedule = {}, FULL
    overrides.update({key: paper[key] if value == PAPER else value for key, value in arm.overrides.items()})
    overrides["seed"] = seed
    if reference is not None and overrides.get("label_noise") in ("confusion", "teacher"):
        overrides["label_noise_reference"] = os.fspath(reference)
    recipe = recipes.get_recipe(recipes.model_name(info.name, arm.method, info.backbone), overrides)
    if recipe["distortion_warmup"] > 0 and schedule == FULL:
        recipe["distortion_warmup_steps"] = paper["distortion_warmup_steps"]
    elif recipe["distortion_warmup"] > 0:
        examples = recipe["train_size"] or info.sizes[0] - recipe["validation_size"]
        steps = recipe["epochs"] * (examples // recipe["batch_size"])
        recipe = recipes.get_recipe(recipe, {"distortion_warmup_steps": max(1, int(round(WARMUP_FRACTION * steps)))})
    else:
        recipe["distortion_warmup_steps"] = 0  # no warm-up: its length means nothing
    return recipe


# ---------------------------------------------------------------------------------------------
# measuring one trained model


def count_confident_errors(probs, labels, threshold=CONFIDENCE_THRESHOLD):
    """Examples predicted wrong with a top-label probability above ``threshold``.

    Args:
        probs: class probabilities ``[N, C]``.
        labels: integer labels ``[N]``.
        threshold: a probability in [0, 1).

    Returns:
        An int: ``#{i : argmax_k p_ik != y_i and max_k p_ik > threshold}``.

    Example:
        >>> count_confident_errors(np.array([[0.95, 0.05], [0.6, 0.4], [0.02, 0.98]]), np.array([1, 1, 1]))
        1
    """
    probs = checks.probability_rows("probs", probs)
    labels = checks.integer_labels("labels", labels, probs.shape[1])
    if labels.shape != (probs.shape[0],):
        raise ValueError(f"labels must have shape ({probs.shape[0]},), one per row of probs; got {labels.shape}.")
    threshold = checks.finite_float("threshold", threshold, low=0.0, high=1.0, high_open=True)
    wrong = probs.argmax(axis=1) != labels
    return int(np.sum(wrong & (probs.max(axis=1) > threshold)))


@dataclasses.dataclass
class EvaluationSets:
    """The data every run of one data set is measured on, prepared once.

    Attributes:
        dataset: canonical name.
        train: ``(images, labels)``, the whole training split before any hold-out (a run's own
            training and validation examples are taken from it by its recipe).
        test: ``(images, labels)``, the test split (or its first ``limit`` examples).
        shifted: corruption name -> corrupted images of ``test[:corruption_limit]`` at
            :data:`SHIFT_SEVERITY`; ``shifted_labels`` their labels.
        ood: OOD set name -> images (at most as many as the test images).
        description: JSON-ready: which splits these are.
    """

    dataset: str
    train: tuple
    test: tuple
    shifted: dict
    shifted_labels: np.ndarray
    ood: dict
    description: dict


def evaluation_sets(dataset, limit=None, corruption_limit=None, data_dir=None, seed=0):
    """Load and prepare :class:`EvaluationSets` for ``dataset``.

    Args:
        dataset: a data set name.
        limit: use the first ``limit`` test examples (``None``: all).
        corruption_limit: corrupt only the first ``corruption_limit`` of them (``None``: all).
        data_dir: folder with the data files.
        seed: seed of the corruptions and noise OOD images.
    """

    info = datasets.info(dataset)
    limit = None if limit is None else checks.positive_int("limit", limit)
    corruption_limit = None if corruption_limit is None else checks.positive_int("corruption_limit", corruption_limit)
    train, (images, labels) = datasets.load(info.name, data_dir=data_dir)
    images, labels = images[:limit], labels[:limit].astype(np.int64)
    corrupt = images[:corruption_limit]
    shifted = {name: corruptions.corrupt(corrupt, name, SHIFT_SEVERITY, seed=seed) for name in SHIFT_CORRUPTIONS}
    ood = {name: data.ood_images(name, images, data_dir, seed) for name in info.ood}
    description = {
        "test": "test" if limit is None else f"test[:{labels.size}]",
        "shifted": f"test[:{len(corrupt)}] corrupted with {list(SHIFT_CORRUPTIONS)} at severity {SHIFT_SEVERITY} (seed {seed})",
        "ood": {name: f"{len(x)} images" for name, x in ood.items()},
        "data_source": data.data_source(info.name, data_dir),
    }
    return EvaluationSets(info.name, train, (images, labels), shifted, labels[: len(corrupt)], ood, description)


def _run_splits(recipe, sets):
    """The run's training examples and its held-out validation split, as training chose them."""
    x_all, y_all = sets.train
    (x_train, y_train), validation = datasets.split_validation(x_all, y_all, recipe["validation_size"], recipe["seed"])
    if recipe["train_size"]:
        x_train, y_train = x_train[: recipe["train_size"]], y_train[: recipe["train_size"]]
    return (x_train, y_train.astype(np.int64)), (validation[0], validation[1].astype(np.int64))


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def evaluate_model(model, recipe, sets, arm, batch_size=500, train_limit=None):
    """Measure one trained model: one row per prediction mode of :data:`PREDICTIONS`.

    Args:
        model: a vdualib classifier (or any Keras classifier whose ``predict`` gives class
            probabilities: it is measured as a single-sample model).
        recipe: the recipe it was trained with (its validation split fits the temperature, its
            training examples give ``confident_train_errors``).
        sets: the :class:`EvaluationSets` of the recipe's data set.
        arm: the arm's name for the rows.
        batch_size: images per forward pass.
        train_limit: count ``confident_train_errors`` on the first ``train_limit`` training
            examples only (``None``: all; the row's ``train_examples`` says how many).

    Returns:
        A list of row dicts with every field of :data:`MEASURES`, ``prediction``,
        ``temperature``, ``shift_by_corruption``, ``ood_auroc_by_set``, ``train_examples``,
        ``test_examples`` and ``eval_seconds``.
    """

    if datasets.canonical_name(recipe["dataset"]) != sets.dataset:
        raise ValueError(f"the model was trained on {recipe['dataset']!r} but the sets are of {sets.dataset!r}.")
    if not recipe["validation_size"]:
        raise ValueError(
            "the recipe held out no validation split, where the temperature is fitted; train with validation_size > 0."
        )
    (x_train, y_train), (x_val, y_val) = _run_splits(recipe, sets)
    if train_limit is not None:
        x_train, y_train = x_train[: checks.positive_int("train_limit", train_limit)], y_train[:train_limit]
    x_test, y_test = sets.test
    rows = []
    for prediction in PREDICTIONS:
        if rows and not getattr(model, "stochastic", False):
            # a deterministic model predicts the same in both modes: one evaluation, two rows
            rows.append(dict(rows[0], prediction=prediction, eval_seconds=0.0))
            continue
        start = time.perf_counter()
        samples = 0 if prediction == "mu" else NUM_SAMPLES

        def probs_of(images, samples=samples):
            return evaluation.predict(model, images, num_samples=samples, batch_size=batch_size)["probs"]

        test_probs = probs_of(x_test)
        clean = evaluation.split_metrics(test_probs, y_test, NUM_BINS, ["accuracy", "nll", "ece"])
        temperature = evaluation.temperature_baseline(test_probs, y_test, NUM_BINS, validation=(probs_of(x_val), y_val))
        shift = {}
        for name, images in sets.shifted.items():
            shift[name] = evaluation.split_metrics(probs_of(images), sets.shifted_labels, NUM_BINS, ["accuracy", "ece"])
        in_scores = metrics.max_probability_score(test_probs)
        ood = {name: metrics.ood_auroc(in_scores, metrics.max_probability_score(probs_of(x))) for name, x in sets.ood.items()}
        rows.append(
            {
                "dataset": sets.dataset,
                "arm": arm,
                "method": getattr(model, "method", "keras"),
                "seed": recipe["seed"],
                "prediction": prediction,
                "num_samples": NUM_SAMPLES if samples and getattr(model, "stochastic", False) else 1,
                **clean,
                "ece_after_ts": None if temperature["after"] is None else temperature["after"]["ece"],
                "temperature": temperature["temperature"],
                "shift_accuracy": float(np.mean([m["accuracy"] for m in shift.values()])),
                "shift_ece": float(np.mean([m["ece"] for m in shift.values()])),
                "shift_by_corruption": shift,
                "ood_auroc": float(np.mean(list(ood.values()))) if ood else None,
                "ood_auroc_by_set": ood,
                "confident_train_errors": count_confident_errors(probs_of(x_train), y_train),
                "train_examples": int(len(y_train)),
                "test_examples": int(len(y_test)),
                "eval_seconds": time.perf_counter() - start,
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# running the study


def protocol():
    """The fixed part of the study's method, as stored in ``study.json`` (a study file written with
    another protocol is refused): predictions, bins, shift corruptions, OOD score, threshold,
    warm-up fraction, verdict rule, measures and arms."""
    return {
        "predictions": {name: _prediction_text(name) for name in PREDICTIONS},
        "num_samples": NUM_SAMPLES,
        "ece_bins": NUM_BINS,
        "temperature": "fitted on the run's held-out validation split (vdualib.calibration), scored on the test split",
        "shift_corruptions": list(SHIFT_CORRUPTIONS),
        "shift_severity": SHIFT_SEVERITY,
        "ood_score": "max_probability: 1 - max_k p_k (higher = more likely out of distribution)",
        "ood_sets": {name: list(datasets.info(name).ood) for name in datasets.DATASETS},
        "confidence_threshold": CONFIDENCE_THRESHOLD,
        "warmup_fraction": WARMUP_FRACTION,
        "smoothing_epsilon": SMOOTHING_EPSILON,
        "verdict_rule": _VERDICT_RULE,
        "measures": {
            name: {"better": "higher" if d > 0 else "lower", "description": text} for name, (d, text) in MEASURES.items()
        },
        "arms": {arm.name: {"method": arm.method, "description": arm.description, "drops": arm.drops} for arm in ARMS.values()},
    }


_VERDICT_RULE = (
    "A is better than B on a measure when d * (mean_A - mean_B) > std_A + std_B over seeds (sample std, ddof=1; "
    "d = +1 where higher is better, -1 where lower is better), worse when -d * (mean_A - mean_B) > std_A + std_B, "
    "undecided otherwise or with fewer than two seeds."
)


def _prediction_text(name):
    return evaluation.PREDICTIONS[name]


def _new_study():
    return {"runs": [], "datasets": {}, "protocol": protocol(), "provenance": reports.provenance()}


#: the parts of the protocol that change what a row measures (the rest only describes it)
_MEASURED = ("num_samples", "ece_bins", "shift_corruptions", "shift_severity", "ood_sets", "confidence_threshold")


def _load_study(path):
    if not os.path.exists(path):
        return _new_study()
    study = reports.read_json(path, remedy="delete it and run the study again (finished runs are reused from --runs)")
    current = protocol()
    stored = study.get("protocol", {})
    if {key: stored.get(key) for key in _MEASURED} != {key: current[key] for key in _MEASURED}:
        raise ValueError(
            f"{path} was measured with another protocol (samples, bins, corruptions, OOD sets or threshold differ); "
            "choose another --out or delete it."
        )
    study["protocol"] = current
    return study


def _key(row):
    return (row["dataset"], row["arm"], row["seed"])


def merge_rows(study, rows):
    """``study`` with ``rows`` added, replacing rows of the same (dataset, arm, seed, prediction)."""
    new = {(*_key(r), r["prediction"]) for r in rows}
    kept = [r for r in study["runs"] if (*_key(r), r["prediction"]) not in new]
    return dict(study, runs=kept + list(rows))


def _reference_record(spec):
    if os.fspath(spec).endswith(".keras") or os.sep in os.fspath(spec):
        return {"reference": os.fspath(spec), "sha256": reports.sha256_file(spec)}
    return {"reference": spec, "sha256": zoo.sha256(spec)}


def run_study(
    out_dir,
    dataset_names=tuple(SCHEDULES),
    arms=ARM_NAMES,
    seeds=(0, 1, 2),
    runs_dir=None,
    schedules=None,
    references=None,
    limit=None,
    corruption_limit=None,
    data_dir=None,
    progress=True,
):
    """Train and measure every (data set, arm, seed) not yet in ``out_dir/study.json``.

    Each finished run's two rows are written into ``study.json`` at once (atomically), so an
    interrupted study loses at most the run in progress; rerunning skips finished runs, reuses a
    trained model whose rows are missing and resumes an interrupted training from its
    checkpoint. Before training anything, the p~ of every confusion arm is computed once per
    (data set, seed), so a reference that cannot serve a seed fails at once.

    Args:
        out_dir: where ``study.json`` goes.
        dataset_names: data sets of :data:`SCHEDULES` (or of ``schedules``).
        arms: names of :data:`ARMS`.
        seeds: seeds (>= 0), each a run of every arm.
        runs_dir: folder of the training runs, ``{runs_dir}/{dataset}/{arm}/seed{seed}``
            (default ``{out_dir}/runs``).
        schedules: data set -> schedule overrides (default :data:`SCHEDULES`).
        references: data set -> p~ reference (zoo name or ``.keras`` path) instead of the
            paper recipe's zoo deterministic model.
        limit: test examples used (``None``: all).
        corruption_limit: test examples corrupted for the shift measures (``None``: all).
        data_dir: folder with the data files.
        progress: show a progress bar.

    Returns:
        The study dict, as written to ``study.json``. Each row of :func:`evaluate_model` also
        records ``model_sha256``, ``source`` (the run folder), ``train_seconds`` (wall time of
        the training, from ``train.json``) and ``cpu_seconds`` (CPU time of this process for
        the run's training, or its remainder when resumed, and both evaluations).

    Raises:
        FileNotFoundError: a p~ reference file that does not exist.
        ValueError: unknown arms or data sets, a ``study.json`` written with another protocol
            or another schedule for a data set, or a p~ reference that held out another split
            (:func:`vdualib.training.label_noise_from_recipe` decides; a zoo reference trained
            with seed 0 held out the split of seed 0 only).
    """

    arms = [get_arm(a).name for a in arms]
    seeds = sorted({checks.non_negative_int("seed", s) for s in seeds})
    dataset_names = [datasets.canonical_name(d) for d in dataset_names]
    if not arms or not seeds or not dataset_names:
        raise ValueError("the study needs at least one data set, one arm and one seed.")
    schedules = dict(schedules or {})
    references = {datasets.canonical_name(k): v for k, v in (references or {}).items()}
    runs_dir = runs_dir or os.path.join(out_dir, "runs")
    path = os.path.join(out_dir, "study.json")
    study = _load_study(path)

    plan = []
    for dataset in dataset_names:
        schedule = _check_schedule(dataset, schedules.get(dataset))
        reference = references.get(dataset)
        sets = evaluation_sets(dataset, limit=limit, corruption_limit=corruption_limit, data_dir=data_dir)
        identity = {"schedule": schedule, "evaluation": sets.description}
        record = study["datasets"].setdefault(dataset, dict(identity))
        if {key: record.get(key) for key in identity} != identity:
            raise ValueError(
                f"{path} holds {dataset} runs of another schedule or evaluation split; choose another --out or delete it."
            )
        recorded = record.setdefault("recipes", {})
        finished = {r["arm"] for r in study["runs"] if r["dataset"] == dataset}
        for arm in arms:
            current = {k: v for k, v in arm_recipe(arm, dataset, 0, schedule, reference).items() if k != "seed"}
            changed = recipes.differences(dict(recorded[arm], seed=0), dict(current, seed=0)) if arm in recorded else {}
            if changed and arm in finished:
                raise ValueError(
                    f"{path} holds {dataset} {arm} runs of another recipe (it differs in {sorted(changed)}); rerun the "
                    "study into another --out, or remove those runs' rows from study.json and their --runs folders."
                )
            recorded[arm] = current
        splits = record.setdefault("data_splits", {})
        for seed in seeds:
            recipe = arm_recipe(arms[0], dataset, seed, schedule, reference)
            splits[str(seed)] = (
                f"{dataset} train split: {recipe['validation_size']} examples held out for validation (seed {seed}), "
                f"then {'the first ' + str(recipe['train_size']) if recipe['train_size'] else 'all'} remaining examples "
                "for training"
            )
            # p~ before any training, so a reference that cannot serve this seed fails now
            confusion = [a for a in arms if arm_recipe(a, dataset, seed, schedule, reference)["label_noise"] == "confusion"]
            if confusion:
                recipe = arm_recipe(confusion[0], dataset, seed, schedule, reference)
                try:
                    _, source = training.label_noise_from_recipe(recipe, *sets.train)
                except ValueError as err:
                    raise ValueError(f"p~ of {dataset} for seed {seed}: {err}") from None
                record.setdefault("label_noise", {})[str(seed)] = source
                record["reference"] = _reference_record(source["reference"])
        plan += [(dataset, sets, schedule, reference, arm, seed) for seed in seeds for arm in arms]

    done = {_key(r) for r in study["runs"] if r["prediction"] == PREDICTIONS[0]} & {
        _key(r) for r in study["runs"] if r["prediction"] == PREDICTIONS[-1]
    }
    todo = [item for item in plan if (item[0], item[4], item[5]) not in done]
    reports.write_json(path, study)
    bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc="dualib study", unit="run", disable=not progress)
    for dataset, sets, schedule, reference, arm, seed in todo:
        bar.set_postfix_str(f"{dataset} {arm} seed {seed}")
        recipe = arm_recipe(arm, dataset, seed, schedule, reference)
        run_dir = os.path.join(runs_dir, dataset, arm, f"seed{seed}")
        cpu = _cpu_seconds()
        if os.path.exists(os.path.join(run_dir, "train.json")):
            trained = reports.read_json(os.path.join(run_dir, "train.json"))
            if trained["recipe"] != recipe:
                raise ValueError(f"{run_dir} holds a run of another recipe; choose another --runs folder or delete it.")
        else:
            resume = os.path.exists(os.path.join(run_dir, "checkpoint.json"))
            name = f"{datasets.info(dataset).slug}-{arm}-seed{seed}"
            trained = training.train(recipe, run_dir, resume=resume, data_dir=data_dir, verbose=0, name=name)
        model = zoo.load(os.path.join(run_dir, "model.keras"))
        rows = evaluate_model(model, recipe, sets, arm)
        cpu = _cpu_seconds() - cpu
        for row in rows:
            row.update(
                model_sha256=trained["sha256"],
                source=reports.recorded_path(run_dir),
                train_seconds=trained["train_seconds"],
                cpu_seconds=cpu,
            )
        study = merge_rows(study, rows)
        reports.write_json(path, study)
        bar.update(1)
    bar.close()
    study["provenance"] = reports.provenance()
    reports.write_json(path, study)
    return study


def _model_recipe(spec, card):
    if card is not None:
        return recipes.get_recipe(card["recipe"])
    record_path = os.path.join(os.path.dirname(os.path.abspath(spec)), "train.json")
    if not os.path.isfile(record_path):
        raise FileNotFoundError(
            f"{spec} has no train.json beside it, so its data split is unknown; pass a zoo name or a model.keras "
            "written by vdualib.training.train (which writes train.json next to it)."
        )
    return recipes.get_recipe(reports.read_json(record_path)["recipe"])


def _load_models(specs):
    """``(loaded, dataset)``: each spec's ``(spec, model, info, recipe)`` and their one data set."""

    specs = [os.fspath(s) for s in specs]
    if not specs:
        raise ValueError("evaluate_models needs at least one zoo name or model.keras path.")
    loaded = []
    for spec in specs:
        model = zoo.load(spec)
        info, card = zoo.describe(spec, model)
        loaded.append((spec, model, info, _model_recipe(spec, card)))
    found = {datasets.canonical_name(r["dataset"]) for *_, r in loaded}
    if len(found) != 1:
        raise ValueError(f"the models were trained on different data sets {sorted(found)}; evaluate each data set apart.")
    arms = [info["method"] for _, _, info, _ in loaded]
    if len(set(arms)) != len(arms):
        raise ValueError(f"two models share a method ({arms}); their rows would share an arm name. Pass one model a method.")
    return loaded, found.pop()


def _measure_models(loaded, sets, train_limit, progress):
    rows = []
    for spec, model, info, recipe in tqdm(loaded, desc=f"{sets.dataset} models", disable=not progress):
        cpu = _cpu_seconds()
        measured = evaluate_model(model, recipe, sets, info["method"], train_limit=train_limit)
        cpu = _cpu_seconds() - cpu
        for row in measured:
            row.update(model_sha256=info["sha256"], source=info["source"], train_seconds=None, cpu_seconds=cpu)
        rows += measured
    description = {
        "evaluation": sets.description,
        "models": {info["method"]: {"source": info["source"], "sha256": info["sha256"], "recipe": r} for _, _, info, r in loaded},
        "train_limit": train_limit,
    }
    return rows, description


def evaluate_models(specs, limit=None, corruption_limit=None, train_limit=None, data_dir=None, progress=True):
    """Rows of the study's schema for trained models, one seed each (e.g. the CIFAR-10 zoo).

    Args:
        specs: zoo names (``"cifar10-vib-resnet20"``) or ``model.keras`` paths with the
            ``train.json`` of :func:`vdualib.training.train` beside them; all of one data set.
        limit: test examples used (``None``: all).
        corruption_limit: test examples corrupted for the shift measures (bounds the cost for
            large backbones).
        train_limit: training examples counted for ``confident_train_errors`` (``None``: all).
        data_dir: folder with the data files.
        progress: show a progress bar.

    Returns:
        ``(rows, description)``: the rows, whose ``arm`` is the model's method (``"vib"``), and a
        JSON-ready dict of the data set's evaluation sets and the models' sources for
        ``study["datasets"]``.

    Raises:
        ValueError: no models, models of different data sets, or two models of one method.

    Example:
        >>> rows, sets = evaluate_models([f"cifar10-{m}-resnet20" for m in ("deterministic", "vib", "dualib")],
        ...                              corruption_limit=1000, train_limit=5000)   # doctest: +SKIP
    """
    loaded, dataset = _load_models(specs)
    sets = evaluation_sets(dataset, limit=limit, corruption_limit=corruption_limit, data_dir=data_dir)
    return _measure_models(loaded, sets, train_limit, progress)


def run_models(out_dir, specs, limit=None, corruption_limit=None, train_limit=None, data_dir=None, progress=True):
    """Measure trained models with :func:`evaluate_models` and add their rows to
    ``out_dir/study.json`` (replacing earlier rows of the same models' data set, arm and seed).

    Models can be added in several calls (the deterministic reference first, its VIB and VdualIB
    later): the data set's record keeps every model's source, as long as each call measures on
    the same evaluation sets and training limit.

    Returns:
        The study dict, as written.

    Raises:
        ValueError: as :func:`evaluate_models`; also when ``study.json`` holds the controlled
            study's own runs on the models' data set (their ``deterministic`` and ``vib`` rows
            would be replaced by models of another schedule), or models measured on other
            evaluation sets or another ``train_limit``. Both are checked before measuring.
    """
    path = os.path.join(out_dir, "study.json")
    study = _load_study(path)
    loaded, dataset = _load_models(specs)
    record = study["datasets"].get(dataset)
    if record is not None and "schedule" in record:
        raise ValueError(
            f"{path} holds the controlled study's own {dataset} runs, which models of another schedule would "
            "replace; measure the models into another --out folder."
        )
    sets = evaluation_sets(dataset, limit=limit, corruption_limit=corruption_limit, data_dir=data_dir)
    if record is not None and (record.get("evaluation") != sets.description or record.get("train_limit") != train_limit):
        raise ValueError(
            f"{path} holds {dataset} models measured on other evaluation sets or another --train-limit "
            f"({record.get('train_limit')}); use the same --limit, --corruption-limit and --train-limit, or another --out."
        )
    rows, description = _measure_models(loaded, sets, train_limit, progress)
    study = merge_rows(study, rows)
    if record is not None:
        description["models"] = dict(record.get("models", {}), **description["models"])
    study["datasets"][dataset] = description
    study["provenance"] = reports.provenance()
    reports.write_json(path, study)
    return study


# ---------------------------------------------------------------------------------------------
# summary and verdicts


def _arms_of(rows):
    order = {}
    for name in ARM_NAMES + methods.names():
        order.setdefault(name, len(order))
    return sorted({r["arm"] for r in rows}, key=lambda a: (order.get(a, len(order)), a))


def _check_study(study):
    if not isinstance(study, dict) or "runs" not in study or "protocol" not in study:
        raise ValueError("expected the study's record (a dict with 'runs' and 'protocol', as study.json holds).")


def check_runs(rows):
    """Refuse rows that are not the study's runs, before anything averages them.

    Args:
        rows: the study's ``runs``: dicts with ``dataset``, ``arm`` and ``prediction`` (one of
            :data:`PREDICTIONS`), a non-negative integer ``seed``, and each measure of
            :data:`MEASURES` a finite number or ``None`` (not measured).

    Returns:
        ``rows``.

    Raises:
        ValueError: not a list of such dicts; the message names the first bad row.

    Example:
        >>> check_runs(reports.read_json("scripts/results/dualib_study/study.json")["runs"])
    """
    if not isinstance(rows, (list, tuple)):
        raise ValueError(f"the study's runs must be a list of rows, got {type(rows).__name__}.")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"run {index} must be a dict, got {type(row).__name__}.")
        missing = [key for key in ("dataset", "arm", "seed", "prediction") if key not in row]
        if missing:
            raise ValueError(f"run {index} lacks {missing}; is this a study.json of scripts/dualib_study.py?")
        if not all(isinstance(row[key], str) and row[key] for key in ("dataset", "arm")):
            raise ValueError(f"run {index}: dataset and arm must be non-empty strings, got {row['dataset']!r}, {row['arm']!r}.")
        if row["prediction"] not in PREDICTIONS:
            raise ValueError(f"run {index}: prediction must be one of {list(PREDICTIONS)}, got {row['prediction']!r}.")
        checks.non_negative_int(f"run {index} seed", row["seed"])
        for measure in MEASURES:
            value = row.get(measure)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value)):
                raise ValueError(f"run {index}: {measure} must be a finite number or null, got {value!r}.")
    return rows


def summarize(rows):
    """Mean and spread over seeds of every measure.

    Args:
        rows: the study's ``runs``.

    Returns:
        ``{dataset: {prediction: {arm: {measure: {"mean", "std", "n"}}}}}``: ``std`` is the sample
        standard deviation (ddof=1), ``None`` with fewer than two seeds; missing values (a
        temperature that could not be fitted) are left out of ``n``.

    Raises:
        ValueError: rows that are not the study's (see :func:`check_runs`).
    """
    check_runs(rows)
    summary = {}
    for row in rows:
        summary.setdefault(row["dataset"], {}).setdefault(row["prediction"], {}).setdefault(row["arm"], []).append(row)
    for dataset, by_prediction in summary.items():
        for prediction, by_arm in by_prediction.items():
            for arm, arm_rows in by_arm.items():
                stats = {}
                for measure in MEASURES:
                    values = np.array([r[measure] for r in arm_rows if r.get(measure) is not None], dtype=np.float64)
                    stats[measure] = {
                        "mean": float(values.mean()) if values.size else None,
                        "std": float(values.std(ddof=1)) if values.size > 1 else None,
                        "n": int(values.size),
                    }
                by_arm[arm] = stats
    return summary


# where a one-seed comparison (the CIFAR-10 zoo models) gets what uncertainty it can have
_ONE_SEED_POINTER = (
    "For the zoo's models, `python -m scripts.compare` gives each clean difference a paired bootstrap interval over the "
    "test examples: the test-set noise, not the seed spread."
)


def verdict(a, b, measure):
    """Whether arm A beats arm B on ``measure`` beyond the seed spread (the module's rule).

    Args:
        a, b: ``{"mean", "std", "n"}`` of the two arms (from :func:`summarize`).
        measure: a key of :data:`MEASURES` (it gives the direction).

    Returns:
        ``"better"``, ``"worse"`` or ``"undecided"``.

    Example:
        >>> verdict({"mean": 0.02, "std": 0.002, "n": 3}, {"mean": 0.05, "std": 0.01, "n": 3}, "ece")
        'better'
    """
    direction = MEASURES[measure][0]
    if min(a["n"], b["n"]) < 2 or a["mean"] is None or b["mean"] is None:
        return "undecided"
    gain, spread = direction * (a["mean"] - b["mean"]), a["std"] + b["std"]
    if gain > spread:
        return "better"
    if -gain > spread:
        return "worse"
    return "undecided"


def verdicts(summary, dataset, prediction=PREDICTIONS[0]):
    """The verdicts of one data set and prediction mode.

    Returns:
        ``None`` without a pair to compare, else a dict: ``pair`` (the compared arms:
        ``dualib-paper`` and ``vib-same-noise``, or ``dualib`` and ``vib`` for models named
        after their method), per measure ``main`` (A against B, with both stats) and
        ``ablations`` (``dualib-paper`` against each ablation present: ``better`` means dropping
        that ingredient hurts), and ``carried_by``: measure -> the ingredients that carry a decided
        difference: where ``dualib-paper`` beats ``vib-same-noise``, those whose ablation it also
        beats; where it loses, those whose ablation beats it (dropping them removes the harm).
    """
    arms = summary.get(dataset, {}).get(prediction, {})
    pair = next(((a, b) for a, b in _COMPARISONS if a in arms and b in arms), None)
    if pair is None:
        return None
    a, b = pair
    result = {"pair": list(pair), "measures": {}, "carried_by": {}}
    ablations = [arm for arm in ARMS.values() if arm.drops and arm.name in arms and a == "dualib-paper"]
    for measure in MEASURES:
        entry = {
            "main": verdict(arms[a][measure], arms[b][measure], measure),
            a: arms[a][measure],
            b: arms[b][measure],
            "ablations": {arm.name: verdict(arms[a][measure], arms[arm.name][measure], measure) for arm in ablations},
        }
        result["measures"][measure] = entry
        # an ingredient carries a difference when dropping it moves dualib-paper the same way
        # against the ablation as against vib-same-noise (better without it gone, or worse)
        main = entry["main"]
        result["carried_by"][measure] = [
            arm.drops for arm in ablations if main != "undecided" and entry["ablations"][arm.name] == main
        ]
    return result


# ---------------------------------------------------------------------------------------------
# the report


def _mean_std(stats, digits=4):
    if stats["mean"] is None:
        return "n/a"
    mean = f"{stats['mean']:.{digits}f}"
    return mean if stats["std"] is None else f"{mean} ± {stats['std']:.{digits}f}"


def _digits(measure):
    return 1 if measure == "confident_train_errors" else 4


def study_figure(study):
    """ECE against accuracy for every arm, with seed error bars (± one sample std), one panel per
    data set (columns) and prediction mode (rows), drawn from the study JSON alone.

    Returns:
        A matplotlib figure; each arm is one ``errorbar`` labelled with its name.

    Raises:
        ValueError: ``study`` is not a study record.
    """
    _check_study(study)
    summary = summarize(study["runs"])
    dataset_names = [d for d in list(datasets.DATASETS) if d in summary]
    plt = plotting.pyplot()
    figure, axes = plt.subplots(
        len(PREDICTIONS),
        max(len(dataset_names), 1),
        figsize=(5.2 * max(len(dataset_names), 1), 4.2 * len(PREDICTIONS)),
        squeeze=False,
    )
    markers = "osD^v<>ph*"
    everyone = _arms_of(study["runs"])
    for column, dataset in enumerate(dataset_names):
        for row, prediction in enumerate(PREDICTIONS):
            ax = axes[row][column]
            arms = summary[dataset].get(prediction, {})
            for arm in _arms_of([{"arm": a} for a in arms]):
                index = everyone.index(arm)
                acc, ece = arms[arm]["accuracy"], arms[arm]["ece"]
                if acc["mean"] is None or ece["mean"] is None:
                    continue
                ax.errorbar(
                    acc["mean"],
                    ece["mean"],
                    xerr=acc["std"] or 0.0,
                    yerr=ece["std"] or 0.0,
                    fmt=markers[index % len(markers)],
                    color=f"C{index % 10}",
                    capsize=3,
                    label=f"{arm} (n={acc['n']})",
                )
            ax.set(
                xlabel="test accuracy",
                ylabel=f"test ECE ({NUM_BINS} bins)",
                title=f"{datasets.info(dataset).slug}, prediction: {prediction}",
            )
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    figure.suptitle("Arms of the dual IB study: mean over seeds ± one sample standard deviation")
    figure.tight_layout()
    return figure


_VERDICT_WORDS = {"better": "better", "worse": "worse", "undecided": "within seed spread"}


def _dataset_markdown(study, dataset, summary):
    record = study.get("datasets", {}).get(dataset, {})
    lines = [f"## {datasets.info(dataset).slug}", ""]
    if record.get("schedule") is not None:
        lines.append(f"Schedule shared by every arm: `{record['schedule']}`.")
    if record.get("reference"):
        seeds = record.get("label_noise", {})
        accuracy = [s.get("reference_accuracy") for s in seeds.values() if s.get("reference_accuracy") is not None]
        acc_text = f", accuracy {np.mean(accuracy):.4f} on the validation split" if accuracy else ""
        reference = record["reference"]
        lines.append(f"p~: confusion matrix of `{reference['reference']}` (sha256 {reference['sha256'][:12]}…{acc_text}).")
    if record.get("models"):
        models = ", ".join(
            f"`{arm}` = {m['source']} (targets: {recipes.describe_targets(m['recipe'])})" for arm, m in record["models"].items()
        )
        lines.append(f"Models: {models} (one seed each).")
    if record.get("evaluation"):
        ev = record["evaluation"]
        lines.append(f"Evaluation: {ev.get('test')}; shift on {ev.get('shifted')}; OOD {ev.get('ood')}.")
    lines.append("")
    for prediction in PREDICTIONS:
        arms = summary.get(prediction)
        if not arms:
            continue
        names = _arms_of([{"arm": a} for a in arms])
        table = [
            {"arm": arm, "seeds": arms[arm]["accuracy"]["n"], **{m: _mean_std(arms[arm][m], _digits(m)) for m in MEASURES}}
            for arm in names
        ]
        lines += [f"### prediction: {prediction} (mean ± sample std over seeds)", "", reports.markdown_table(table)]
        found = verdicts({dataset: summary}, dataset, prediction)
        if found is None:
            continue
        a, b = found["pair"]
        if min(entry[a]["n"] for entry in found["measures"].values()) < 2 or min(
            entry[b]["n"] for entry in found["measures"].values()
        ) < 2:
            lines += [
                f"`{a}` against `{b}`: one seed, so no difference can be judged against the seed spread. "
                f"{_ONE_SEED_POINTER}",
                "",
            ]
            continue
        verdict_rows = []
        for measure, entry in found["measures"].items():
            row = {
                "measure": measure,
                a: _mean_std(entry[a], _digits(measure)),
                b: _mean_std(entry[b], _digits(measure)),
                f"{a} vs {b}": _VERDICT_WORDS[entry["main"]],
            }
            for ablation, word in entry["ablations"].items():
                row[f"vs {ablation}"] = _VERDICT_WORDS[word]
            row["carried by"] = ", ".join(found["carried_by"][measure]) or "-"
            verdict_rows.append(row)
        lines += [
            f"Verdicts ({prediction}): `{a}` against `{b}`, and against each ablation "
            "(`better` there means dropping that ingredient hurts):",
            "",
            reports.markdown_table(verdict_rows),
        ]
        if (a, b) == ("dualib", "vib"):
            lines += ["These models are compared by method: `vib` is trained towards the targets named above, not the same p~.", ""]
    return lines


def report_markdown(study):
    """The study's Markdown report (tables, verdicts, protocol), from the JSON alone.

    Raises:
        ValueError: ``study`` is not a study record (a dict with ``runs`` and ``protocol``).
    """
    _check_study(study)
    summary = summarize(study["runs"])
    protocol = study["protocol"]
    lines = [
        "# The dual IB, tested in a controlled study",
        "",
        "Generated by `scripts/dualib_study.py` from `study.json`; do not edit.",
        "",
        "Arms: " + "; ".join(f"`{name}`: {arm['description']}" for name, arm in protocol["arms"].items()) + ".",
        "",
        f"Verdict rule: {protocol['verdict_rule']}",
        "",
        f"Shift: {', '.join(protocol['shift_corruptions'])} at severity {protocol['shift_severity']}. "
        f"OOD score: {protocol['ood_score']}. Temperature: {protocol['temperature']}. "
        f"Confident training errors: confidence > {protocol['confidence_threshold']}.",
        "",
        "![ECE against accuracy](study.png)",
        "",
    ]
    for dataset in [d for d in datasets.DATASETS if d in summary]:
        lines += _dataset_markdown(study, dataset, summary[dataset])
    timing = [r for r in study["runs"] if r.get("train_seconds") is not None and r["prediction"] == PREDICTIONS[0]]
    if timing:
        per = {}
        for r in timing:
            per.setdefault(r["dataset"], []).append(r)
        lines += ["## Cost", ""]
        lines.append(
            reports.markdown_table(
                [
                    {
                        "dataset": d,
                        "runs": len(rs),
                        "train seconds (mean)": float(np.mean([r["train_seconds"] for r in rs])),
                        "evaluation seconds, both modes (mean)": float(
                            np.mean([sum(x["eval_seconds"] for x in study["runs"] if _key(x) == _key(r)) for r in rs])
                        ),
                        "process CPU seconds (mean)": float(np.mean([r["cpu_seconds"] for r in rs])),
                    }
                    for d, rs in per.items()
                ],
                digits=0,
            )
        )
    prov = study.get("provenance", {})
    lines += [f"vdualib {prov.get('vdualib_version')}, {prov.get('created')}, {prov.get('machine')}.", ""]
    return "\n".join(lines)


def render_report(study, out_dir):
    """Write ``study.md``, ``study.png`` and ``readme.md`` (the :func:`readme_block`, which
    ``scripts/update_readme.py`` places in the README) into ``out_dir`` from the study dict;
    returns the Markdown of ``study.md``."""
    if not study.get("runs"):
        raise ValueError("the study has no runs yet; run it (scripts/dualib_study.py) before rendering.")
    text = report_markdown(study)
    reports.write_text(os.path.join(out_dir, "study.md"), text)
    plotting.save_figure(study_figure(study), os.path.join(out_dir, "study.png"))
    block = readme_block(study) or "The dual IB study has no pair of arms to compare yet."
    reports.write_text(os.path.join(out_dir, "readme.md"), block + "\n")
    return text


def readme_block(study, link="scripts/results/dualib_study/study.md"):
    """A short Markdown answer for the README (``scripts/update_readme.py``), from the JSON:
    per data set, where ``dualib-paper`` beats ``vib-same-noise`` beyond the seed spread, where it
    loses, and which ingredients carry those differences (decoder at mu, the paper's protocol).

    Returns:
        The Markdown text, or ``None`` when no data set has a pair of arms to compare.
    """
    summary = summarize(study["runs"])
    lines = []
    for dataset in [d for d in datasets.DATASETS if d in summary]:
        found = verdicts(summary, dataset, PREDICTIONS[0])
        if found is None:
            continue
        a, b = found["pair"]
        seeds = min(e[a]["n"] for e in found["measures"].values())
        groups = {
            word: [m for m, e in found["measures"].items() if e["main"] == word] for word in ("better", "worse", "undecided")
        }

        def described(measure):
            entry = found["measures"][measure]
            text = f"{measure} {_mean_std(entry[a], _digits(measure))} vs {_mean_std(entry[b], _digits(measure))}"
            carried = found["carried_by"][measure]
            return text + (f", carried by {' and '.join(carried)}" if carried else "")

        head = f"**{datasets.info(dataset).slug}**, `{a}` against `{b}` over {seeds} seed{'s' if seeds != 1 else ''}:"
        if seeds < 2:
            parts = [head, f"one seed, so no difference can be told from the seed spread. {_ONE_SEED_POINTER}"]
        else:
            parts = [head]
            for word, text in (("better", "better on"), ("worse", "worse on")):
                if groups[word]:
                    parts.append(f"{text} {'; '.join(described(m) for m in groups[word])}.")
            if not groups["better"] and not groups["worse"]:
                parts.append("no measure differs beyond the seed spread.")
            elif groups["undecided"]:
                parts.append(f"Within the seed spread: {', '.join(groups['undecided'])}.")
        lines.append("- " + " ".join(parts))
    if not lines:
        return None
    lines.append(
        f"\nDecoder at mu; better/worse means the difference of the means exceeds the sum of the two seed standard "
        f"deviations. Details: [{link}]({link})."
    )
    return "\n".join(lines)
