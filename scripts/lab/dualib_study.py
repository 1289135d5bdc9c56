"""The controlled study of the dual IB: which ingredient of the paper's VdualIB
recipe changes what, measured over seeds against the VIB trained on the same p~, on two schedules.

Seven arms (:data:`ARMS`, the one place they are decided) differ only in the fields the table
names:

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
deterministic model (``mnist-deterministic-mlp``, ``fashion-mnist-deterministic-convnet``, trained
with seed 0) on its held-out validation split (:func:`vdualib.training.label_noise_from_recipe`).

**Two schedules** (every row of ``study.json`` carries ``"schedule"``; runs are keyed by data set,
schedule, arm and seed):

* ``short`` (:data:`SHORT`, the ablation study; :data:`SCHEDULES`, chosen by measurement): all
  seven arms on MNIST (our addition) and Fashion-MNIST, 6 epochs each, so that 7 arms x 3 seeds x
  2 data sets fit about two hours of this 2-core machine. MNIST: the mlp, all 55,000 training
  examples, batch 100, Adam 1e-3 with cosine decay, no weight averaging, no augmentation.
  Fashion-MNIST: the convnet at width 1, batch 128, AdamW 2e-3 with cosine decay, no augmentation
  (in six epochs crop+flip only slows the fit). The paper's warm-up (4,000 steps of batch 64) would
  span most of such a run, so it decays over the first :data:`WARMUP_FRACTION` of the run's steps.
  Measured on seed 0 of ``dualib-paper`` beside a CIFAR-10 training: MNIST 162 s of training and
  17 s for both evaluations, Fashion-MNIST 358 s and 62 s.
* ``full`` (:data:`FULL`): each arm's zoo recipe unchanged, on the paper's data set only
  (:data:`FULL_DATASETS`) and for the arms that answer the headline question (:data:`FULL_ARMS`):
  on Fashion-MNIST the convnet at width 2, crop and flip, 40 epochs, and the paper's whole warm-up
  (4,000 steps of batch 64). Seed 0 of an arm measures the zoo model instead of training when the
  zoo's card recipe is identical (:func:`zoo_match`; ``source: "zoo:<name>"``). ``run_study(...,
  smoke=...)`` lays small overrides (epochs, examples) over either schedule for tests only; the
  per-schedule record names them. Cost: the zoo's cards record 2,700-3,300 s of training per
  Fashion-MNIST model on this machine, so the 12 runs (4 arms x 3 seeds) take about ten hours
  alone, plus the MC-dropout evaluation (per deterministic seed, the convolutions once and 12 passes of
  the layers after the dropout, over about 130,000 images).

Rows measured from trained models (:func:`run_models`, e.g. the CIFAR-10 zoo, one seed each) carry
``"schedule": "models"`` (:data:`MODELS`): they follow no schedule of the study.

**Baselines from the same runs** (:data:`BASELINES`), rows beside the arms at no extra training,
computed once a (schedule, data set) has deterministic runs (rerunning fills them in; they are
replaced when their members change):

* ``deep-ensemble``: the mean of the probabilities of every deterministic seed (at least two);
  ``seed`` is the smallest member seed, ``members`` lists them. No temperature scaling and no
  ``confident_train_errors`` (``None``): no split is held out of, or trained on by, every member.
* ``mc-dropout``: per deterministic seed whose backbone has Dropout layers (the convnet; the mlp
  has none): :class:`MCDropout` keeps dropout on at test time, batch norm in inference mode, and
  averages :data:`NUM_SAMPLES` passes (the ``samples`` row); its ``mu`` row is the deterministic
  model with dropout off.
* temperature scaling: every row's ``ece_after_ts``.

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
  top-label confidence above :data:`CONFIDENCE_THRESHOLD`. A model trained towards p~ puts about
  p~(y|y) on class y, so where p~(y|y) is below the threshold this count is capped by p~; the
  report says so beside the number.

**Decision rules**, fixed before any full-schedule run (the protocol stores them in words):

1. *Seed spread* (:func:`verdict`): arm A is *better* than arm B on a measure when the means over
   seeds differ in A's favour by more than the sum of the two sample standard deviations (ddof=1),
   ``d * (mean_A - mean_B) > std_A + std_B`` with d = +1 where higher is better and -1 where lower
   is better; *worse* when the same holds in B's favour; *undecided* otherwise, and when either arm
   has fewer than two seeds.
2. *Pooled paired bootstrap* (:func:`pooled_interval`, :func:`interval_verdict`): each run keeps
   its per-example test scores; for ``dualib-paper`` against ``vib-same-noise`` (per schedule, data
   set and prediction mode, seeds paired by index) every resample draws the test indices once, the
   same for both arms and all seeds, and computes each arm's measure on the concatenation over its
   seeds of the resampled examples. The percentile interval of the difference
   (:data:`vdualib.evaluation.examples.BOOTSTRAP`) decides: better when it lies on A's side of 0,
   worse on B's side, undecided when it holds 0. Measures: :data:`INTERVAL_MEASURES`.

The headline (:func:`headline_verdict`) says better (worse) only when both rules say so; where no
interval exists (the shift, OOD and training-error measures, or runs measured before per-example
scores were kept) it is the seed rule's alone, marked so. An ingredient *carries* a decided
headline difference when ``dualib-paper`` differs from the ablation that drops it in the same
direction by the seed rule.

Files: ``run_study(out_dir, ...)`` writes ``out_dir/study.json`` after each finished run (atomic;
a study.json of the earlier format, without schedules, is read as the short schedule:
:func:`migrate_study`), each run's per-example test scores into
``out_dir/scores/{schedule}/{dataset}/{arm}-seed{seed}.npz`` (:func:`write_scores`; plain arrays,
read without pickles), and trains into ``{runs_dir}/{dataset}/{arm}/seed{seed}`` (short) or
``{runs_dir}/full/{dataset}/{arm}/seed{seed}`` (full). :func:`render_report` writes ``study.md``,
``study.png`` and the README block ``readme.md`` from the JSON alone.

Example:
    >>> from scripts.lab import dualib_study
    >>> dualib_study.arm_recipe("dualib-no-warmup", "mnist", seed=1)["distortion_warmup"]
    0.0
    >>> study = dualib_study.run_study("runs/study", dataset_names=["mnist"], seeds=[0])   # doctest: +SKIP
    >>> study = dualib_study.run_study("runs/study", schedule="full")                     # doctest: +SKIP
    >>> dualib_study.render_report(study, "runs/study")                                # doctest: +SKIP
"""

import dataclasses
import os
import resource
import time
import zipfile

import keras
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
from vdualib.evaluation import data, examples

#: the repository's root (the study records its runs folder relative to it)
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

__all__ = [
    "Arm",
    "ARMS",
    "ARM_NAMES",
    "SCHEDULES",
    "SMOKE_SCHEDULE",
    "SHORT",
    "FULL",
    "MODELS",
    "SCHEDULE_NAMES",
    "FULL_ARMS",
    "FULL_DATASETS",
    "BASELINES",
    "INTERVAL_MEASURES",
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
    "zoo_match",
    "count_confident_errors",
    "EvaluationSets",
    "evaluation_sets",
    "evaluate_model",
    "MCDropout",
    "has_dropout",
    "scores_path",
    "write_scores",
    "read_scores",
    "pooled_interval",
    "interval_verdict",
    "headline_verdict",
    "protocol",
    "migrate_study",
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
#: the cross-entropy warm-up decays to 0 over this fraction of a short run's steps
WARMUP_FRACTION = 0.25
#: corruptions of the shifted test split: one each of the noise, blur, weather, digital and
#: geometric families that apply to grayscale and RGB images alike
SHIFT_CORRUPTIONS = ("gaussian_noise", "motion_blur", "fog", "contrast", "elastic_transform")
SHIFT_SEVERITY = 3
#: a training error counts as confident above this top-label probability
CONFIDENCE_THRESHOLD = 0.9
NUM_BINS = 15
#: encoder samples of the ``samples`` prediction (and MC-dropout passes)
NUM_SAMPLES = 12
#: the precision every run trains in (the same numerics on machines with and without bfloat16
#: hardware); a zoo model stands in for seed 0 only if it trained in it too
PRECISION = "float32"
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
#: the measures the pooled paired bootstrap gives an interval (from per-example test scores)
INTERVAL_MEASURES = ("accuracy", "nll", "ece", "ece_after_ts")


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
        Arm(
            "dualib-paper",
            "dualib",
            "the dual IB objective with the paper's p~ (confusion of the deterministic reference), class-conditional "
            "prior and warm-up",
            _PAPER_ALL,
        ),
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
#: rows computed from the deterministic arm's runs, beside the arms (no training of their own)
BASELINES = ("deep-ensemble", "mc-dropout")

#: data set -> recipe overrides shared by every arm of the short schedule (see the module docstring)
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
#: the short schedule: :data:`SCHEDULES`, every arm, MNIST and Fashion-MNIST
SHORT = "short"
#: the full schedule: each arm takes its data set's zoo recipe unchanged (Fashion-MNIST: the
#: convnet at width 2, crop and flip, 40 epochs, and the paper's whole warm-up of 4,000 steps of
#: batch 64), for the arms that answer the headline question, on the paper's data set
FULL = "full"
FULL_ARMS = ("deterministic", "vib", "vib-same-noise", "dualib-paper")
FULL_DATASETS = ("fashion_mnist",)
#: the schedules :func:`run_study` runs, in report order
SCHEDULE_NAMES = (FULL, SHORT)
#: the ``schedule`` of rows measured from trained models (:func:`run_models`): no schedule of the study
MODELS = "models"
_ROW_SCHEDULES = (FULL, SHORT, MODELS)
#: what ``--smoke`` lays over a schedule: a run of seconds that exercises every step
SMOKE_SCHEDULE = {"epochs": 1, "train_size": 500, "validation_size": 300, "batch_size": 50}
#: fields the arms decide; a schedule (or smoke overrides) may not set them
_ARM_FIELDS = frozenset(
    {"seed", "distortion_warmup_steps", "method", "dataset", "backbone"}
    | {key for arm in ARMS.values() for key in arm.overrides}
)
#: the study.json layout this module writes (:func:`migrate_study` reads the earlier one)
STUDY_FORMAT = 2


def get_arm(name):
    """The :class:`Arm` called ``name``; ``ValueError`` with the choices otherwise."""
    if isinstance(name, Arm):
        return name
    if name not in ARMS:
        raise ValueError(f"Unknown arm {name!r}; choose from {list(ARMS)}.")
    return ARMS[name]


def _check_schedule_name(schedule):
    if schedule not in SCHEDULE_NAMES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose from {list(SCHEDULE_NAMES)}.")
    return schedule


def _check_overrides(what, overrides):
    if not isinstance(overrides, dict):
        raise ValueError(f"{what} must be a dict of recipe fields, got {type(overrides).__name__}.")
    bad = sorted(set(overrides) & _ARM_FIELDS)
    if bad:
        raise ValueError(f"{what} is shared by every arm and may not set {bad}; the arms table decides them.")
    return dict(overrides)


def _check_schedule(dataset, schedule):
    """The overrides of ``schedule`` for ``dataset``: a dict, or :data:`FULL`."""
    if schedule == FULL:
        if dataset not in FULL_DATASETS:
            raise ValueError(f"the full schedule is run on {list(FULL_DATASETS)}, not {dataset!r}.")
        return FULL
    if schedule is None or schedule == SHORT:
        if dataset not in SCHEDULES:
            raise ValueError(f"the study has no schedule for {dataset!r}; pass one or use {sorted(SCHEDULES)}.")
        return dict(SCHEDULES[dataset])
    if isinstance(schedule, str):
        raise ValueError(f"Unknown schedule {schedule!r}; choose from {list(SCHEDULE_NAMES)} or pass recipe overrides.")
    return _check_overrides("a schedule", schedule)


def _paper_recipe(dataset):
    info = datasets.info(dataset)
    return recipes.RECIPES[recipes.model_name(info.name, "dualib", info.backbone)]


def arm_recipe(arm, dataset, seed=0, schedule=None, reference=None, smoke=None):
    """The recipe of one run: the data set's recipe of the arm's method, the schedule, the arm.

    Args:
        arm: a name of :data:`ARMS`.
        dataset: ``"mnist"`` or ``"fashion_mnist"`` (any data set with a zoo recipe works when
            ``schedule`` is given).
        seed: the run's seed (initialisation, data order and the validation split).
        schedule: :data:`SHORT` or ``None`` (:data:`SCHEDULES` of the data set), recipe
            overrides shared by every arm (they may not set a field the arms decide), or
            :data:`FULL` (``"full"``): the zoo recipe's schedule unchanged, the paper's warm-up
            length included (only :data:`FULL_ARMS` on :data:`FULL_DATASETS`).
        reference: the p~ reference (zoo name or ``.keras`` path) instead of the paper recipe's,
            for arms with confusion label noise.
        smoke: recipe overrides laid over the schedule for a smoke test (e.g.
            :data:`SMOKE_SCHEDULE`); ``None`` for the real study.

    Returns:
        A validated recipe dict. With a warm-up, ``distortion_warmup_steps`` is the paper
        recipe's on the full schedule, else :data:`WARMUP_FRACTION` of the run's optimizer steps
        (at least 1).

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
    full = overrides == FULL
    if full and arm.name not in FULL_ARMS:
        raise ValueError(f"the full schedule runs the arms {list(FULL_ARMS)}, not {arm.name!r}.")
    overrides = {} if full else overrides
    overrides.update(_check_overrides("smoke", smoke) if smoke is not None else {})
    overrides.update({key: paper[key] if value == PAPER else value for key, value in arm.overrides.items()})
    overrides["seed"] = seed
    if reference is not None and overrides.get("label_noise") in ("confusion", "teacher"):
        overrides["label_noise_reference"] = os.fspath(reference)
    recipe = recipes.get_recipe(recipes.model_name(info.name, arm.method, info.backbone), overrides)
    if recipe["distortion_warmup"] > 0 and full:
        recipe["distortion_warmup_steps"] = paper["distortion_warmup_steps"]
    elif recipe["distortion_warmup"] > 0:
        examples_per_epoch = recipe["train_size"] or info.sizes[0] - recipe["validation_size"]
        steps = recipe["epochs"] * (examples_per_epoch // recipe["batch_size"])
        recipe = recipes.get_recipe(recipe, {"distortion_warmup_steps": max(1, int(round(WARMUP_FRACTION * steps)))})
    else:
        recipe["distortion_warmup_steps"] = 0  # no warm-up: its length means nothing
    return recipe


def zoo_match(arm, dataset, recipe, label_noise=None):
    """The zoo model a run may measure instead of training, and why (or why not).

    Only seed 0 qualifies (the zoo trains seed 0): the zoo must hold
    ``recipes.model_name(dataset, arm.method, backbone)``, its card's recipe must train exactly
    as ``recipe`` does (:func:`vdualib.recipes.differences` empty), in the study's
    :data:`PRECISION`, and, for an arm trained towards p~, the card's p~ must come from the same
    reference file.

    Args:
        arm: a name of :data:`ARMS`.
        dataset: a data set name.
        recipe: the run's recipe (:func:`arm_recipe`).
        label_noise: the run's p~ record (``label_noise_from_recipe``'s source), or ``None``.

    Returns:
        ``(name, reason)``: the zoo name or ``None``, and a sentence for the study's record.

    Example:
        >>> zoo_match("deterministic", "fashion_mnist", arm_recipe("deterministic", "fashion_mnist", 0, FULL))[0] is None
        True
    """
    arm, info = get_arm(arm), datasets.info(dataset)
    name = recipes.model_name(info.name, arm.method, info.backbone)
    if recipe["seed"] != 0:
        return None, "only seed 0 may be a zoo model (the zoo trains seed 0)"
    if name not in zoo.list_models():
        return None, f"the zoo has no {name}"
    card = zoo.card(name)
    changed = recipes.differences(card["recipe"], recipe)
    if changed:
        return None, f"{name} was trained with another recipe (it differs in {sorted(changed)})"
    precision = (card.get("training") or {}).get("precision")
    if precision != PRECISION:
        return None, f"{name} was trained in {precision or 'an unrecorded precision'}, the study's runs in {PRECISION}"
    wanted = (label_noise or {}).get("reference_sha256")
    trained = ((card.get("objective") or {}).get("label_noise") or {}).get("reference_sha256")
    if wanted is not None and trained != wanted:
        return None, f"{name} was trained towards the p~ of another reference file (sha256 {str(trained)[:12]})"
    return name, f"{name} has the identical recipe"


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


def _test_scores(probs, labels, temperature):
    """Per-example test scores (``correct``, ``confidence``, ``nll``, ``brier`` and, with a
    temperature, ``ts_confidence`` and ``ts_correct``), as :func:`write_scores` keeps them."""
    scores = examples.example_record("run", None, probs, labels, temperature=temperature)["scores"]
    return {key: value for key, value in scores.items() if key != "uncertainty"}


def _measure_predictions(probs_of, sets, validation=None, train=None):
    """Every measure of one prediction function ``probs_of(images) -> [N, C]``.

    Args:
        probs_of: the predictions measured.
        sets: the :class:`EvaluationSets`.
        validation: ``(images, labels)`` the temperature is fitted on, or ``None`` (no scaling).
        train: ``(images, labels)`` where confident errors are counted, or ``None`` (not counted).

    Returns:
        ``(fields, scores)``: the row's measures and the per-example test scores.
    """
    x_test, y_test = sets.test
    test_probs = probs_of(x_test)
    clean = evaluation.split_metrics(test_probs, y_test, NUM_BINS, ["accuracy", "nll", "ece"])
    temperature = {"temperature": None, "after": None}
    if validation is not None:
        temperature = evaluation.temperature_baseline(
            test_probs, y_test, NUM_BINS, validation=(probs_of(validation[0]), validation[1])
        )
    shift = {
        name: evaluation.split_metrics(probs_of(images), sets.shifted_labels, NUM_BINS, ["accuracy", "ece"])
        for name, images in sets.shifted.items()
    }
    in_scores = metrics.max_probability_score(test_probs)
    ood = {
        name: metrics.ood_auroc(in_scores, metrics.max_probability_score(probs_of(x))) for name, x in sets.ood.items()
    }
    fields = {
        **clean,
        "ece_after_ts": None if temperature["after"] is None else temperature["after"]["ece"],
        "temperature": temperature["temperature"],
        "shift_accuracy": float(np.mean([m["accuracy"] for m in shift.values()])),
        "shift_ece": float(np.mean([m["ece"] for m in shift.values()])),
        "shift_by_corruption": shift,
        "ood_auroc": float(np.mean(list(ood.values()))) if ood else None,
        "ood_auroc_by_set": ood,
        "confident_train_errors": None if train is None else count_confident_errors(probs_of(train[0]), train[1]),
        "train_examples": None if train is None else int(len(train[1])),
        "test_examples": int(len(y_test)),
    }
    return fields, _test_scores(test_probs, y_test, temperature["temperature"])


def _probs_function(model, num_samples, batch_size):
    def probs_of(images):
        return evaluation.predict(model, images, num_samples=num_samples, batch_size=batch_size)["probs"]

    return probs_of


def _evaluate(model, recipe, sets, arm, batch_size=500, train_limit=None):
    """:func:`evaluate_model`'s rows and, per prediction mode, the per-example test scores."""
    if datasets.canonical_name(recipe["dataset"]) != sets.dataset:
        raise ValueError(f"the model was trained on {recipe['dataset']!r} but the sets are of {sets.dataset!r}.")
    if not recipe["validation_size"]:
        raise ValueError(
            "the recipe held out no validation split, where the temperature is fitted; train with validation_size > 0."
        )
    train, validation = _run_splits(recipe, sets)
    if train_limit is not None:
        train = tuple(part[: checks.positive_int("train_limit", train_limit)] for part in train)
    stochastic = getattr(model, "stochastic", False)
    rows, scores = [], {}
    for prediction in PREDICTIONS:
        if rows and not stochastic:
            # a deterministic model predicts the same in both modes: one evaluation, two rows
            rows.append(dict(rows[0], prediction=prediction, eval_seconds=0.0))
            scores[prediction] = scores[PREDICTIONS[0]]
            continue
        start = time.perf_counter()
        samples = 0 if prediction == "mu" else NUM_SAMPLES
        fields, scores[prediction] = _measure_predictions(
            _probs_function(model, samples, batch_size), sets, validation, train
        )
        head = {
            "dataset": sets.dataset,
            "arm": arm,
            "method": getattr(model, "method", "keras"),
            "seed": recipe["seed"],
        }
        num_samples = NUM_SAMPLES if samples and stochastic else 1
        rows.append({**head, "prediction": prediction, "num_samples": num_samples, **fields})
        rows[-1]["eval_seconds"] = time.perf_counter() - start
    return rows, scores


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
    return _evaluate(model, recipe, sets, arm, batch_size, train_limit)[0]


# ---------------------------------------------------------------------------------------------
# MC dropout (a library feature in the making: vdualib has no MC-dropout prediction yet)


class _AlwaysDropout(keras.layers.Layer):
    """Dropout that drops in inference too, its masks drawn from a seeded generator."""

    def __init__(self, rate, seed, noise_shape=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.noise_shape = float(rate), noise_shape
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.initial_state = np.array(self.seed_generator.state.numpy())

    def call(self, inputs, training=None):
        if self.rate == 0:
            return inputs
        return keras.random.dropout(inputs, self.rate, noise_shape=self.noise_shape, seed=self.seed_generator)

    def reset(self):
        self.seed_generator.state.assign(self.initial_state)


def _all_dropouts(model):
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += _all_dropouts(layer)
    return found


def _dropout_layers(backbone):
    """The Dropout layers of a backbone; ``ValueError`` for one inside a nested model, or a subclass of
    Dropout (``SpatialDropout2D`` drops whole channels: its masks are not the element-wise ones of MC dropout)."""
    found = _all_dropouts(backbone)
    nested = [layer.name for layer in found if not any(layer is own for own in backbone.layers)]
    if nested:
        raise ValueError(
            f"MC dropout reaches the backbone's own Dropout layers, not those of nested models ({nested})."
        )
    other = sorted({type(layer).__name__ for layer in found if type(layer) is not keras.layers.Dropout})
    if other:
        raise ValueError(f"MC dropout keeps keras.layers.Dropout on at test time; the backbone has {other}, whose "
                         "masks it would not reproduce.")
    return found


def has_dropout(model):
    """Whether a classifier's backbone has Dropout layers (the convnet does, the mlp not)."""
    backbone = getattr(model, "backbone", None)
    return backbone is not None and bool(_dropout_layers(backbone))


class MCDropout:
    """Monte Carlo dropout view of a deterministic :class:`vdualib.models.IBClassifier`.

    The backbone is cut at its first ``keras.layers.Dropout``: the layers before it run once per
    image (their features are the same in every pass), and only the rest, cloned with
    ``keras.models.clone_model`` so that each Dropout becomes a layer that always drops (its masks
    from a ``keras.random.SeedGenerator`` seeded with ``seed`` plus its index), runs
    ``num_samples`` times on those features, with the encoder and decoder. On the convnet, whose
    only dropout follows the global pooling, a pass then costs two small dense layers instead of
    the whole network. Where the rest of the backbone also reads tensors from before the Dropout
    (a skip connection around it), the whole backbone runs in every pass instead. Every other
    layer is the model's own, so the weights are shared and batch normalization stays in
    inference mode. :meth:`predict` averages the probabilities of the passes; it restarts the mask
    streams on every call, so the same images in the same batches give the same probabilities. A
    backbone without dropout gives the plain prediction.

    Args:
        model: a deterministic ``IBClassifier`` with a functional (or Sequential) backbone.
        num_samples: passes averaged, >= 1 (default :data:`NUM_SAMPLES`).
        seed: seed of the dropout masks.

    Raises:
        ValueError: a stochastic model, or one without a backbone.

    Example:
        >>> view = MCDropout(zoo.load("fashion-mnist-deterministic-convnet"), seed=0)   # doctest: +SKIP
        >>> view.predict(x_test[:100]).shape     # (100, 10)   # doctest: +SKIP
    """

    def __init__(self, model, num_samples=NUM_SAMPLES, seed=0):
        if getattr(model, "stochastic", True) or not isinstance(getattr(model, "backbone", None), keras.Model):
            raise ValueError("MCDropout takes a deterministic vdualib classifier (method 'deterministic').")
        self.num_samples = checks.positive_int("num_samples", num_samples)
        seed = checks.non_negative_int("seed", seed)
        self.dropouts = []

        def swap(layer):
            if not isinstance(layer, keras.layers.Dropout):
                return layer
            self.dropouts.append(_AlwaysDropout(layer.rate, seed + len(self.dropouts), noise_shape=layer.noise_shape,
                                                name=f"{layer.name}_mc", dtype=layer.dtype_policy))
            return self.dropouts[-1]

        found = _dropout_layers(model.backbone)
        images = keras.Input(shape=model.image_shape, dtype="uint8", name="images")
        cut = _cut_before(model.backbone, found[0]) if found else None
        if cut is None:  # the whole backbone in every pass
            self.features = None
            head_input, rest = images, keras.models.clone_model(model.backbone, clone_function=swap)
        else:
            before, after = cut
            self.features = keras.Model(images, before(images, training=False), name="mc_dropout_features")
            head_input = keras.Input(shape=before.output.shape[1:], dtype=before.output.dtype, name="features")
            rest = keras.models.clone_model(after, clone_function=swap)
        logits = model.decoder(model.encoder(rest(head_input, training=False)))
        self.head = keras.Model(head_input, keras.ops.softmax(keras.ops.cast(logits, "float32")), name="mc_dropout_head")
        self.network = self.head if self.features is None else keras.Model(
            images, self.head(self.features(images)), name="mc_dropout")
        self.method, self.stochastic = model.method, False

    def sample_probs(self, images, batch_size=500):
        """The probabilities of each pass, ``[num_samples, N, C]``."""
        images = checks.pixel_images("images", images)
        for layer in self.dropouts:
            layer.reset()
        inputs = images if self.features is None else self.features.predict(images, batch_size=batch_size, verbose=0)
        return np.stack(
            [self.head.predict(inputs, batch_size=batch_size, verbose=0) for _ in range(self.num_samples)]
        )

    def predict(self, images, batch_size=500, verbose=0):
        """The mean over the passes, ``[N, C]`` (``verbose`` is accepted and ignored)."""
        return self.sample_probs(images, batch_size).mean(axis=0)


#: largest feature size per image (entries) at which MC dropout keeps the features before the cut for all
#: images at once (the convnet's: 256 per unit of width); above it every pass runs the whole backbone
_MAX_CUT_FEATURES = 4096


def _cut_before(backbone, layer):
    """``(before, after)``: the backbone as two models meeting at ``layer``'s input (``before`` ends there,
    ``after`` starts there), or None where ``after`` would also read tensors from before that point, or
    the features there are larger than :data:`_MAX_CUT_FEATURES` per image."""
    tensor = layer.input
    if not isinstance(tensor, keras.KerasTensor) or len(backbone.inputs) != 1 or len(backbone.outputs) != 1:
        return None
    if int(np.prod(tensor.shape[1:])) > _MAX_CUT_FEATURES:
        return None
    try:
        after = keras.Model(tensor, backbone.outputs[0])
    except (ValueError, KeyError, AttributeError):  # the graph after the cut reads other tensors from before it
        return None
    if sum(isinstance(op, keras.layers.InputLayer) for op in after.operations) != 1:
        return None
    return keras.Model(backbone.inputs, tensor), after


# ---------------------------------------------------------------------------------------------
# per-example test scores of each run, and the pooled paired bootstrap

#: the folder of the score files, inside the study's folder
SCORES_DIR = "scores"
_SCORE_KEYS = ("correct", "confidence", "nll", "brier")
_TS_KEYS = ("ts_confidence", "ts_correct")  # only where the temperature was fitted on a validation split
_SEPARATOR = "__"
_BATCH = 100  # resamples measured at once: 100 x (seeds x N) arrays


def scores_path(out_dir, schedule, dataset, arm, seed):
    """``out_dir/scores/{schedule}/{dataset}/{arm}-seed{seed}.npz``: one run's per-example scores."""
    return os.path.join(os.fspath(out_dir), SCORES_DIR, schedule, dataset, f"{arm}-seed{seed}.npz")


def write_scores(path, labels, scores, identity):
    """Write one run's per-example test scores, atomically (plain arrays: no pickles).

    Args:
        path: the ``.npz`` file (:func:`scores_path`).
        labels: the test labels ``[N]``.
        scores: prediction mode -> ``{correct, confidence, nll, brier}`` (and ``ts_confidence``,
            ``ts_correct`` where a temperature was fitted), each ``[N]``
            (:func:`vdualib.metrics.per_example_scores`).
        identity: what ties the file to the run's rows: the model's sha256 (the members' joined
            by commas for an ensemble).

    Raises:
        ValueError: anything :func:`read_scores` would refuse; nothing is written then.
    """
    arrays = {"labels": checks.integer_labels("labels", labels), "identity": np.array(str(identity))}
    for prediction, by_key in scores.items():
        if prediction not in PREDICTIONS:
            raise ValueError(f"scores are kept per prediction mode {list(PREDICTIONS)}, not {prediction!r}.")
        for key in (*_SCORE_KEYS, *(k for k in _TS_KEYS if k in by_key)):
            arrays[f"{prediction}{_SEPARATOR}{key}"] = np.asarray(
                by_key[key], dtype=bool if key.endswith("correct") else np.float64
            )
    _parse_scores(arrays, path)  # what is written reads back
    with reports.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)


def read_scores(path):
    """Read a score file of :func:`write_scores` (``allow_pickle=False``).

    Returns:
        ``(labels, scores, identity)``: ``scores`` maps each prediction mode to its arrays.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a score file (unknown or mis-shaped arrays, non-finite scores, confidences
            outside [0, 1], half of a temperature-scaled pair, pickled objects).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} does not exist; rerun the study (scripts/dualib_study.py) to measure the run again."
        )
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise ValueError(f"{path} is not a score file of the dual IB study (an .npz of plain arrays).") from None
    return _parse_scores(arrays, path)


def _check_score_array(path, key, values, size):
    name = key.partition(_SEPARATOR)[2]
    if values.shape != (size,) or values.dtype.kind not in ("b" if name.endswith("correct") else "f"):
        raise ValueError(f"{path}: {key} must be {size} {'booleans' if name.endswith('correct') else 'floats'}.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: {key} holds non-finite scores.")
    if name.endswith("confidence") and not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"{path}: {key} holds confidences outside [0, 1].")


def _parse_scores(arrays, path):
    """Check the arrays of a score file and unpack them as :func:`read_scores` returns them."""
    if "labels" not in arrays or "identity" not in arrays or arrays["identity"].dtype.kind != "U":
        raise ValueError(f"{path} lacks its labels or identity; it is not a score file of the dual IB study.")
    labels = checks.integer_labels(f"{path} labels", arrays["labels"])
    if labels.ndim != 1:
        raise ValueError(f"{path}: labels must be one per test example, got shape {labels.shape}.")
    scores = {}
    for key, values in arrays.items():
        if key in ("labels", "identity"):
            continue
        prediction, _, name = key.partition(_SEPARATOR)
        if prediction not in PREDICTIONS or name not in (*_SCORE_KEYS, *_TS_KEYS):
            raise ValueError(f"{path} has an array {key!r} of no prediction mode and score; it is not a score file.")
        _check_score_array(path, key, values, labels.size)
        scores.setdefault(prediction, {})[name] = values
    for prediction, by_key in scores.items():
        if any(k not in by_key for k in _SCORE_KEYS) or sum(k in by_key for k in _TS_KEYS) == 1:
            raise ValueError(f"{path}: the {prediction} scores are incomplete ({sorted(by_key)}).")
    if not scores:
        raise ValueError(f"{path} holds no scores.")
    return labels, scores, str(arrays["identity"])


def _check_interval_measure(name):
    if name not in INTERVAL_MEASURES:
        raise ValueError(f"the pooled bootstrap measures {list(INTERVAL_MEASURES)}, not {name!r}.")


def _pooled(runs, keys, index=None):
    """Each key's scores concatenated over the runs (seeds), each resampled by ``index`` first."""
    return [
        np.concatenate(
            [np.asarray(run[key]) if index is None else np.asarray(run[key])[index] for run in runs], axis=-1
        )
        for key in keys
    ]


def _pooled_values(name, arrays, num_bins):
    """A measure over the last axis of its per-example scores ``[..., n]``."""
    if len(arrays) == 2:
        return metrics.top_label_ece(arrays[0], arrays[1], num_bins)
    return np.mean(np.asarray(arrays[0], dtype=np.float64), axis=-1)


def _bootstrap_options(bootstrap):
    unknown = set(bootstrap) - set(examples.BOOTSTRAP)
    if unknown:
        raise ValueError(f"unknown bootstrap options {sorted(unknown)}; choose from {sorted(examples.BOOTSTRAP)}.")
    options = dict(examples.BOOTSTRAP, **bootstrap)
    level = options["confidence_level"]
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
        raise ValueError(f"confidence_level must be a number strictly between 0 and 1; got {level!r}.")
    options["num_resamples"] = checks.positive_int("num_resamples", options["num_resamples"])
    options["seed"] = checks.non_negative_int("seed", options["seed"])
    return options


def _check_runs_of_pair(runs_a, runs_b, keys):
    if not runs_a or len(runs_a) != len(runs_b):
        raise ValueError("the pooled bootstrap pairs seeds by index: give both arms the same number (>= 1) of runs.")
    for run in (*runs_a, *runs_b):
        if not isinstance(run, dict) or any(key not in run for key in keys):
            raise ValueError(f"each run's scores must be a dict holding {list(keys)}.")
    if not all(
        np.all(np.isfinite(np.asarray(run[key], dtype=np.float64))) for run in (*runs_a, *runs_b) for key in keys
    ):
        raise ValueError(f"the runs' {list(keys)} scores must be finite numbers.")
    shapes = {np.shape(run[key]) for run in (*runs_a, *runs_b) for key in keys}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1 or next(iter(shapes))[0] == 0:
        raise ValueError(
            f"every run's scores must cover the same test examples (one 1-D length), got shapes {sorted(shapes)}."
        )
    return next(iter(shapes))[0]


def pooled_interval(runs_a, runs_b, name, num_bins=NUM_BINS, **bootstrap):
    """The difference ``measure(A) - measure(B)`` on the pooled seeds, with a paired bootstrap
    interval over the test examples.

    Each resample draws N test indices with replacement, the same for both arms and every seed;
    an arm's measure is computed on the concatenation over its seeds of the resampled examples.
    The percentile interval (:data:`vdualib.evaluation.examples.BOOTSTRAP`) is the test-set
    noise around the pooled difference.

    Args:
        runs_a, runs_b: each arm's per-example scores of one prediction mode, one dict per seed,
            paired by index (:func:`read_scores`'s arrays, or ``metrics.per_example_scores``).
        name: a measure of :data:`INTERVAL_MEASURES`.
        num_bins: ECE bins.
        **bootstrap: overrides of ``BOOTSTRAP`` (``num_resamples``, ``confidence_level``, ``seed``).

    Returns:
        ``{"difference", "low", "high", "beyond_noise", "confidence_level", "num_resamples",
        "seed", "seeds", "examples"}`` (``seeds``: runs pooled per arm).

    Raises:
        ValueError: an unknown measure or option, unequal numbers of runs, scores the measure
            needs missing, or runs on different examples.

    Example:
        >>> pooled_interval([scores_a0, scores_a1], [scores_b0, scores_b1], "ece")["high"] < 0   # doctest: +SKIP
    """
    _check_interval_measure(name)
    keys = examples.MEASURES[name]
    size = _check_runs_of_pair(runs_a, runs_b, keys)
    options = _bootstrap_options(bootstrap)

    def difference(index=None):
        return _pooled_values(name, _pooled(runs_a, keys, index), num_bins) - _pooled_values(
            name, _pooled(runs_b, keys, index), num_bins
        )

    point = examples.measure(dict(zip(keys, _pooled(runs_a, keys))), name, num_bins) - examples.measure(
        dict(zip(keys, _pooled(runs_b, keys))), name, num_bins
    )
    rng = np.random.default_rng(options["seed"])
    values = [
        difference(rng.integers(0, size, size=(min(_BATCH, options["num_resamples"] - start), size)))
        for start in range(0, options["num_resamples"], _BATCH)
    ]
    tail = 50.0 * (1.0 - options["confidence_level"])
    low, high = (float(v) for v in np.percentile(np.concatenate(values), [tail, 100.0 - tail]))
    return {
        "difference": float(point),
        "low": low,
        "high": high,
        "beyond_noise": bool(low > 0 or high < 0),
        "confidence_level": options["confidence_level"],
        "num_resamples": options["num_resamples"],
        "seed": options["seed"],
        "seeds": len(runs_a),
        "examples": int(size),
    }


def interval_verdict(interval, measure):
    """The bootstrap rule: ``"better"`` when the interval of A - B lies on A's side of 0 (above
    where higher is better, below where lower is better), ``"worse"`` on B's side,
    ``"undecided"`` when it holds 0 (or there is no interval: ``None``).

    Example:
        >>> interval_verdict({"low": -0.03, "high": -0.01}, "ece")
        'better'
    """
    if interval is None:
        return "undecided"
    direction = MEASURES[measure][0]
    low, high = sorted((direction * interval["low"], direction * interval["high"]))
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "undecided"


def headline_verdict(seed_rule, interval_rule=None):
    """The headline of a measure: the seed rule confirmed by the bootstrap rule where it exists.

    Args:
        seed_rule: :func:`verdict`'s word.
        interval_rule: :func:`interval_verdict`'s word, or ``None`` without an interval.

    Returns:
        ``seed_rule`` when ``interval_rule`` is ``None``; else ``"better"`` or ``"worse"`` when
        both say so, ``"undecided"`` when they disagree.

    Example:
        >>> headline_verdict("better", "undecided"), headline_verdict("worse", None)
        ('undecided', 'worse')
    """
    if interval_rule is None:
        return seed_rule
    return seed_rule if seed_rule == interval_rule else "undecided"


# ---------------------------------------------------------------------------------------------
# the study's record: protocol, layout, rows

_VERDICT_RULE = (
    "A is better than B on a measure when d * (mean_A - mean_B) > std_A + std_B over seeds (sample std, ddof=1; "
    "d = +1 where higher is better, -1 where lower is better), worse when -d * (mean_A - mean_B) > std_A + std_B, "
    "undecided otherwise or with fewer than two seeds."
)
_DECISION_RULE = (
    "Fixed before any full-schedule run: the headline on a measure says better (worse) only when the seed-spread "
    "rule and the pooled paired bootstrap both say better (worse); when they disagree it is undecided. Where no "
    "interval exists (shift_accuracy, shift_ece, ood_auroc and confident_train_errors keep no per-example scores; "
    "runs measured before the score files were kept, such as the short study's first runs, have none at all) the "
    "headline is the seed-spread rule alone and is marked 'seed rule only'. An ingredient carries a headline "
    "difference when dualib-paper differs from the ablation without it in the same direction by the seed rule."
)
_BASELINE_TEXTS = {
    "deep-ensemble": (
        "the mean of the probabilities of every seed of the deterministic arm (at least two), one row per prediction "
        "mode (the same in both), seed = the smallest member seed, members listed; no training of its own. "
        "ece_after_ts is null: each member held out another validation split (and trained on the others'), so no "
        "split is held out of every member to fit a temperature on. confident_train_errors is null: the members share "
        "no training set, and a count on the examples in every member's training set would not be comparable with "
        "the arms' counts over their whole training sets."
    ),
    "mc-dropout": (
        f"for each deterministic seed whose backbone has Dropout layers (the convnet; the mlp has none, so MNIST "
        f"has no such rows): the samples row keeps dropout on at test time, batch normalization in inference mode, "
        f"and averages the probabilities of {NUM_SAMPLES} passes (masks seeded with the run's seed); its temperature "
        "is fitted on the run's validation split and its confident training errors counted on the run's training "
        "examples, with the same passes. Its mu row is the deterministic model with dropout off: the deterministic "
        "arm's own measures."
    ),
    "temperature scaling": "every row's ece_after_ts (the temperature fitted on the run's validation split).",
}
_CAP_TEXT = (
    "a model that fits its targets p~(.|y) puts about p~(y|y) on the true class of a training example of class y, so "
    "on classes where p~(y|y) is at or below the confidence threshold it does not pass the threshold by fitting p~: "
    "the count of an arm trained towards p~ is capped by p~, not only by what the arm learned."
)
_SCHEDULE_TITLES = {
    FULL: "Full schedule: each arm's zoo recipe",
    SHORT: "Short schedule: the ablation study",
    MODELS: "Trained models, one seed each",
}
#: what the report says beside a data set's name
_DATASET_NOTES = {"mnist": "our addition; the paper's own data set is Fashion-MNIST"}


def _recipe_phrase(recipe):
    """``convnet at width 2, 40 epochs`` of a recorded recipe (``None`` without one)."""
    if not recipe or "backbone" not in recipe or "epochs" not in recipe:
        return None
    width = recipe.get("backbone_width")
    epochs = f"{recipe['epochs']} epoch{'s' if recipe['epochs'] != 1 else ''}"
    return f"{recipe['backbone']}{'' if width is None else f' at width {width:g}'}, {epochs}"


def _schedule_texts():
    full = "; ".join(
        f"{d}: {_recipe_phrase(r)} of batch {r['batch_size']}, augmentation {r['augment']}, the paper's warm-up of "
        f"{r['distortion_warmup_steps']} steps"
        for d, r in ((d, arm_recipe("dualib-paper", d, 0, FULL)) for d in FULL_DATASETS)
    )
    short = "; ".join(
        f"{d}: {_recipe_phrase(r)} of batch {r['batch_size']}, augmentation {r['augment']}, the warm-up over the first "
        f"{WARMUP_FRACTION:.0%} of the steps"
        for d, r in ((d, arm_recipe("dualib-paper", d, 0)) for d in SCHEDULES)
    )
    return {
        FULL: f"Each arm's zoo recipe unchanged, arms {list(FULL_ARMS)} on the paper's data set ({full}); seed 0 "
        "measures the zoo model instead of training when its card's recipe is identical.",
        SHORT: f"All seven arms, one schedule shared by every arm ({short}).",
        MODELS: "Trained models measured as they are (run_models), one seed each; their arms are their methods.",
    }


def _interval_rule_text():
    bootstrap = examples.BOOTSTRAP
    return (
        f"dualib-paper against vib-same-noise per schedule, data set and prediction mode, seeds paired by index "
        f"(each arm's seeds sorted): each of {bootstrap['num_resamples']} resamples (seed {bootstrap['seed']}) draws "
        "the N test indices with replacement once, the same for both arms and every seed, and computes each arm's "
        "measure on the concatenation over its seeds of the resampled examples; the "
        f"{bootstrap['confidence_level']:.0%} percentile interval of the difference A - B says better when it lies "
        "on A's side of 0 (above 0 where higher is better, below where lower is better), worse on B's side, "
        f"undecided when it holds 0. Measures: {', '.join(INTERVAL_MEASURES)} (ece_after_ts where both arms' "
        "temperatures were fitted), from the per-example test scores in scores/."
    )


def protocol():
    """The fixed part of the study's method, as stored in ``study.json`` (a study file written with
    another protocol is refused): predictions, bins, shift corruptions, OOD score, threshold,
    warm-up fraction, schedules, baselines, both decision rules and how they combine, measures and
    arms."""
    return {
        "predictions": {name: evaluation.PREDICTIONS[name] for name in PREDICTIONS},
        "num_samples": NUM_SAMPLES,
        "ece_bins": NUM_BINS,
        "temperature": "fitted on the run's held-out validation split (vdualib.calibration), scored on the test split",
        "shift_corruptions": list(SHIFT_CORRUPTIONS),
        "shift_severity": SHIFT_SEVERITY,
        "ood_score": "max_probability: 1 - max_k p_k (higher = more likely out of distribution)",
        "ood_sets": {name: list(datasets.info(name).ood) for name in datasets.DATASETS},
        "confidence_threshold": CONFIDENCE_THRESHOLD,
        "confident_train_errors_cap": _CAP_TEXT,
        "warmup_fraction": WARMUP_FRACTION,
        "smoothing_epsilon": SMOOTHING_EPSILON,
        "schedules": _schedule_texts(),
        "baselines": dict(_BASELINE_TEXTS),
        "verdict_rule": _VERDICT_RULE,
        "interval_rule": _interval_rule_text(),
        "decision_rule": _DECISION_RULE,
        "bootstrap": {**examples.BOOTSTRAP, "measures": list(INTERVAL_MEASURES), "pair": list(_COMPARISONS[0])},
        "measures": {
            name: {"better": "higher" if d > 0 else "lower", "description": text}
            for name, (d, text) in MEASURES.items()
        },
        "arms": {
            arm.name: {"method": arm.method, "description": arm.description, "drops": arm.drops}
            for arm in ARMS.values()
        },
    }


#: the parts of the protocol that change what a row measures (the rest only describes it)
_MEASURED = ("num_samples", "ece_bins", "shift_corruptions", "shift_severity", "ood_sets", "confidence_threshold")
#: the parts that decide the full-schedule answer: fixed once a full-schedule run is in the study
_DECIDING = ("verdict_rule", "interval_rule", "decision_rule", "bootstrap")


def _new_study():
    return {
        "format": STUDY_FORMAT,
        "runs": [],
        "schedules": {},
        "protocol": protocol(),
        "provenance": reports.provenance(),
    }


def _check_layout(study):
    schedules = study.get("schedules")
    if not isinstance(schedules, dict) or any(
        name not in _ROW_SCHEDULES or not isinstance(records, dict) for name, records in schedules.items()
    ):
        raise ValueError(
            f"the study's 'schedules' must map schedules of {list(_ROW_SCHEDULES)} to per-data-set records."
        )
    return study


def migrate_study(study):
    """The study record in today's layout (:data:`STUDY_FORMAT`).

    A study.json written before the schedules existed (no ``format``) holds rows without
    ``schedule`` and, in ``datasets``, one record per data set: the short schedule's (its
    ``schedule`` overrides become ``overrides``), or the trained models' of :func:`run_models`
    (with ``models``). Its rows get ``"schedule": "short"`` (``"models"`` for the latter), its
    records move to ``schedules[schedule][dataset]``, and its protocol keeps its measured parts
    and takes today's descriptions (rules, schedules, baselines). Today's layout is returned as it
    is (checked).

    Raises:
        ValueError: not a study record, or a format this module does not know.

    Example:
        >>> migrate_study(reports.read_json("scripts/results/dualib_study/study.json"))["runs"][0]["schedule"]   # doctest: +SKIP
        'short'
    """
    if not isinstance(study, dict) or not isinstance(study.get("runs"), list):
        raise ValueError("expected the study's record (a dict with 'runs' and 'protocol', as study.json holds).")
    if "format" in study:
        if study["format"] != STUDY_FORMAT:
            raise ValueError(
                f"study.json has format {study['format']!r}; this module reads {STUDY_FORMAT} and the earlier one."
            )
        return _check_layout(study)
    schedules, kinds = {}, {}
    for dataset, record in (study.get("datasets") or {}).items():
        kinds[dataset] = MODELS if "models" in record else SHORT
        record = dict(record)
        if "schedule" in record:
            record["overrides"] = record.pop("schedule")
            record.setdefault("smoke", None)
        schedules.setdefault(kinds[dataset], {})[dataset] = record
    runs = [
        dict(row, schedule=kinds.get(row.get("dataset"), SHORT))
        if isinstance(row, dict) and "schedule" not in row
        else row
        for row in study["runs"]
    ]
    migrated = {key: value for key, value in study.items() if key != "datasets"}
    migrated.update(format=STUDY_FORMAT, runs=runs, schedules=schedules)
    if isinstance(study.get("protocol"), dict):
        migrated["protocol"] = dict(
            protocol(), **{key: study["protocol"][key] for key in _MEASURED if key in study["protocol"]}
        )
    return migrated


def _load_study(path):
    if not os.path.exists(path):
        return _new_study()
    study = reports.read_json(path, remedy="delete it and run the study again (finished runs are reused from --runs)")
    study = migrate_study(study)
    current = protocol()
    stored = study.get("protocol", {})
    if {key: stored.get(key) for key in _MEASURED} != {key: current[key] for key in _MEASURED}:
        raise ValueError(
            f"{path} was measured with another protocol (samples, bins, corruptions, OOD sets or threshold differ); "
            "choose another --out or delete it."
        )
    changed = [key for key in _DECIDING if stored.get(key) != current[key]]
    if changed and any(r["schedule"] == FULL for r in study["runs"]):
        raise ValueError(
            f"{path} holds full-schedule runs whose decision rule was fixed before they ran, and this code's rule "
            f"differs in {changed}: restore that rule (study.json's protocol holds it), or choose another --out."
        )
    study["protocol"] = current
    return study


def _key(row):
    return (row["dataset"], row["schedule"], row["arm"], row["seed"])


def merge_rows(study, rows):
    """``study`` with ``rows`` added, replacing rows of the same (dataset, schedule, arm, seed, prediction)."""
    new = {(*_key(r), r["prediction"]) for r in rows}
    kept = [r for r in study["runs"] if (*_key(r), r["prediction"]) not in new]
    return dict(study, runs=kept + list(rows))


def _drop_rows(study, schedule, dataset, arm, seeds=None):
    """``study`` without the rows of ``arm`` (of ``seeds`` only, when given) in (schedule, dataset)."""

    def dropped(r):
        return (r["schedule"], r["dataset"], r["arm"]) == (schedule, dataset, arm) and (
            seeds is None or r["seed"] in seeds
        )

    return dict(study, runs=[r for r in study["runs"] if not dropped(r)])


def _reference_record(spec):
    if os.fspath(spec).endswith(".keras") or os.sep in os.fspath(spec):
        return {"reference": os.fspath(spec), "sha256": reports.sha256_file(spec)}
    return {"reference": spec, "sha256": zoo.sha256(spec)}


# ---------------------------------------------------------------------------------------------
# running the study


@dataclasses.dataclass
class _Context:
    """What every step of one :func:`run_study` call shares."""

    out_dir: str
    path: str  # study.json
    runs_dir: str
    schedule: str
    smoke: dict
    data_dir: str
    progress: bool = False  # a line per training epoch, besides the bar over the runs


@dataclasses.dataclass
class _Part:
    """One data set of a :func:`run_study` call: its sets, schedule overrides, p~ reference and
    record (``study["schedules"][schedule][dataset]``, updated in place)."""

    dataset: str
    sets: EvaluationSets
    overrides: object
    reference: object
    record: dict


def _runs_location(runs_dir):
    """The runs folder as a study records it: relative to the repository when inside it (whatever the
    current folder), absolute otherwise."""
    absolute = os.path.abspath(runs_dir)
    inside = os.path.commonpath([absolute, REPOSITORY]) == REPOSITORY
    return os.path.relpath(absolute, REPOSITORY).replace(os.sep, "/") if inside else absolute


def _run_dir(ctx, dataset, arm, seed):
    prefix = (FULL,) if ctx.schedule == FULL else ()
    return os.path.join(ctx.runs_dir, *prefix, dataset, arm, f"seed{seed}")


def _recipe(ctx, part, arm, seed):
    return arm_recipe(arm, part.dataset, seed, part.overrides, part.reference, ctx.smoke)


def _study_arguments(schedule, dataset_names, arms, seeds, schedules):
    """Checked ``(dataset_names, arms, seeds)`` of a call of ``schedule``, defaults filled in."""
    full = _check_schedule_name(schedule) == FULL
    arms = [get_arm(a).name for a in (arms if arms is not None else FULL_ARMS if full else ARM_NAMES)]
    names = dataset_names if dataset_names is not None else FULL_DATASETS if full else tuple(SCHEDULES)
    dataset_names = [datasets.canonical_name(d) for d in names]
    seeds = sorted({checks.non_negative_int("seed", s) for s in seeds})
    if not arms or not seeds or not dataset_names:
        raise ValueError("the study needs at least one data set, one arm and one seed.")
    if full:
        other_arms = [a for a in arms if a not in FULL_ARMS]
        if other_arms:
            raise ValueError(
                f"the full schedule runs the arms {list(FULL_ARMS)}; {other_arms} run on the short schedule only."
            )
        other_sets = [d for d in dataset_names if d not in FULL_DATASETS]
        if other_sets:
            raise ValueError(f"the full schedule is run on {list(FULL_DATASETS)}, not {other_sets}.")
        if schedules:
            raise ValueError(
                "the full schedule is each arm's zoo recipe; shorten it for a test with smoke=, not schedules=."
            )
    return dataset_names, arms, seeds


def _prepare_part(study, ctx, dataset, overrides, reference, sets):
    """The :class:`_Part` of ``dataset``, its record checked against (or started with) this
    call's schedule, smoke overrides and evaluation sets."""
    overrides = _check_schedule(dataset, FULL if ctx.schedule == FULL else overrides)
    identity = {"overrides": {} if overrides == FULL else overrides, "smoke": ctx.smoke, "evaluation": sets.description}
    record = study["schedules"].setdefault(ctx.schedule, {}).setdefault(dataset, dict(identity))
    if {key: record.get(key) for key in identity} != identity:
        raise ValueError(
            f"{ctx.path} holds {ctx.schedule}-schedule {dataset} runs of another schedule, smoke setting or evaluation "
            "split; choose another --out or delete it."
        )
    runs = _runs_location(ctx.runs_dir)
    if record.setdefault("runs", runs) != runs:
        raise ValueError(
            f"{ctx.path} holds {ctx.schedule}-schedule {dataset} runs trained in {record['runs']}, not {runs}: pass "
            f"--runs {record['runs']} (resumed runs and the baselines' models are there), or choose another --out."
        )
    return _Part(dataset, sets, overrides, reference, record)


def _check_recipes(study, ctx, part, arms):
    """Record each arm's recipe; refuse finished runs of an arm whose recipe has changed since."""
    recorded = part.record.setdefault("recipes", {})
    finished = {r["arm"] for r in study["runs"] if (r["schedule"], r["dataset"]) == (ctx.schedule, part.dataset)}
    for arm in arms:
        current = {k: v for k, v in _recipe(ctx, part, arm, 0).items() if k != "seed"}
        changed = recipes.differences(dict(recorded[arm], seed=0), dict(current, seed=0)) if arm in recorded else {}
        if changed and arm in finished:
            raise ValueError(
                f"{ctx.path} holds {part.dataset} {arm} runs of another recipe (it differs in {sorted(changed)}); rerun the "
                "study into another --out, or remove those runs' rows from study.json and their --runs folders."
            )
        recorded[arm] = current


def _record_splits_and_noise(ctx, part, arms, seeds):
    """Each seed's data split and, before any training (so that a reference that cannot serve
    a seed fails at once), the p~ of the arms with confusion label noise."""
    splits = part.record.setdefault("data_splits", {})
    for seed in seeds:
        recipe = _recipe(ctx, part, arms[0], seed)
        splits[str(seed)] = (
            f"{part.dataset} train split: {recipe['validation_size']} examples held out for validation (seed {seed}), "
            f"then {'the first ' + str(recipe['train_size']) if recipe['train_size'] else 'all'} remaining examples "
            "for training"
        )
        confusion = [a for a in arms if _recipe(ctx, part, a, seed)["label_noise"] == "confusion"]
        if not confusion:
            continue
        try:
            _, source = training.label_noise_from_recipe(_recipe(ctx, part, confusion[0], seed), *part.sets.train)
        except ValueError as err:
            raise ValueError(f"p~ of {part.dataset} for seed {seed}: {err}") from None
        recorded = part.record.setdefault("label_noise", {}).get(str(seed))
        if recorded is not None and _noise_identity(recorded) != _noise_identity(source):
            raise ValueError(
                f"p~ of {part.dataset} for seed {seed} has changed since {ctx.path} recorded it (reference "
                f"{recorded.get('reference')} sha256 {str(recorded.get('reference_sha256'))[:12]}, now "
                f"{source.get('reference')} sha256 {str(source.get('reference_sha256'))[:12]}): runs of one study share "
                "one p~. Restore that reference model (or pass it with --reference), or run the study into another --out."
            )
        part.record["label_noise"][str(seed)] = source
        part.record["reference"] = _reference_record(source["reference"])


def _noise_identity(source):
    """What makes two p~ records the same p~: the reference file, the split it predicted and the mixing."""
    return {key: source.get(key) for key in ("kind", "reference_sha256", "split", "mixing")}


def _check_noise_of_run(run_dir, state_file, part, recipe):
    """Refuse a run folder whose training (finished or to resume) was towards another p~ than the study's."""
    wanted = part.record.get("label_noise", {}).get(str(recipe["seed"]))
    if recipe["label_noise"] != "confusion" or wanted is None:
        return
    used = reports.read_json(os.path.join(run_dir, state_file)).get("label_noise_source") or {}
    if used.get("reference_sha256") != wanted.get("reference_sha256"):
        raise ValueError(
            f"{run_dir} was trained towards the p~ of another reference (sha256 {str(used.get('reference_sha256'))[:12]}, "
            f"the study's is {str(wanted.get('reference_sha256'))[:12]}); delete that run folder or choose another --runs."
        )


def _zoo_model(part, arm, recipe):
    """The zoo model seed 0 of a full-schedule arm measures instead of training, or ``None``;
    the record keeps the reason either way."""
    noise = part.record.get("label_noise", {}).get("0") if recipe["label_noise"] in ("confusion", "teacher") else None
    name, reason = zoo_match(arm, part.dataset, recipe, noise)
    part.record.setdefault("zoo", {})[arm] = {"model": name, "reason": reason}
    return name


def _model_of_run(ctx, part, arm, recipe):
    """``(model, provenance)`` of one run: its finished training, a zoo model of the identical
    recipe (full schedule, seed 0), or a new (or resumed) training."""
    run_dir = _run_dir(ctx, part.dataset, arm, recipe["seed"])
    if not os.path.exists(os.path.join(run_dir, "train.json")) and ctx.schedule == FULL and recipe["seed"] == 0:
        name = _zoo_model(part, arm, recipe)
        if name is not None:
            seconds = (zoo.card(name).get("training") or {}).get("seconds")
            return zoo.load(name), {"model_sha256": zoo.sha256(name), "source": f"zoo:{name}", "train_seconds": seconds}
    if os.path.exists(os.path.join(run_dir, "train.json")):
        trained = reports.read_json(os.path.join(run_dir, "train.json"))
        if trained["recipe"] != recipe:
            raise ValueError(f"{run_dir} holds a run of another recipe; choose another --runs folder or delete it.")
        _check_noise_of_run(run_dir, "train.json", part, recipe)
    else:
        resume = os.path.exists(os.path.join(run_dir, "checkpoint.json"))
        if resume:
            _check_noise_of_run(run_dir, "checkpoint.json", part, recipe)
        name = f"{datasets.info(part.dataset).slug}-{arm}-seed{recipe['seed']}"
        trained = training.train(
            recipe, run_dir, resume=resume, precision=PRECISION, data_dir=ctx.data_dir, verbose=2 if ctx.progress else 0,
            name=name,
        )  # fmt: skip
    provenance = {"model_sha256": trained["sha256"], "source": reports.recorded_path(run_dir)}
    return zoo.load(os.path.join(run_dir, "model.keras")), dict(provenance, train_seconds=trained["train_seconds"])


def _measure_run(ctx, part, arm, seed):
    """One run's rows (both prediction modes) and per-example test scores."""
    recipe = _recipe(ctx, part, arm, seed)
    cpu = _cpu_seconds()
    model, provenance = _model_of_run(ctx, part, arm, recipe)
    rows, scores = _evaluate(model, recipe, part.sets, arm)
    cpu = _cpu_seconds() - cpu
    rows = [{"dataset": r["dataset"], "schedule": ctx.schedule, **r, **provenance, "cpu_seconds": cpu} for r in rows]
    return rows, scores


def _finished(study):
    """Keys of the runs with rows in both prediction modes."""
    by_mode = [{_key(r) for r in study["runs"] if r["prediction"] == prediction} for prediction in PREDICTIONS]
    return set.intersection(*by_mode)


def _save_rows(study, ctx, part, rows, scores, identity):
    """Write the score file of ``rows``' run, then the rows into ``study.json``; the new study."""
    path = scores_path(ctx.out_dir, ctx.schedule, part.dataset, rows[0]["arm"], rows[0]["seed"])
    write_scores(path, part.sets.test[1], scores, identity)
    study = merge_rows(study, rows)
    reports.write_json(ctx.path, study)
    return study


def _run_arms(study, ctx, parts, arms, seeds, progress):
    """Train (or reuse) and measure every (data set, arm, seed) not yet finished."""
    plan = [(part, arm, seed) for part in parts for seed in seeds for arm in arms]
    done = _finished(study)
    todo = [(p, a, s) for p, a, s in plan if (p.dataset, ctx.schedule, a, s) not in done]
    bar = tqdm(
        total=len(plan),
        initial=len(plan) - len(todo),
        desc=f"dualib study ({ctx.schedule})",
        unit="run",
        disable=not progress,
    )
    for part, arm, seed in todo:
        bar.set_postfix_str(f"{part.dataset} {arm} seed {seed}")
        rows, scores = _measure_run(ctx, part, arm, seed)
        study = _save_rows(study, ctx, part, rows, scores, rows[0]["model_sha256"])
        bar.update(1)
    bar.close()
    return study


# -- the baselines, from the deterministic runs


def _rows_of(study, schedule, dataset, arm, prediction=PREDICTIONS[0]):
    """seed -> row of ``arm`` in (schedule, dataset) and one prediction mode."""
    return {
        r["seed"]: r
        for r in study["runs"]
        if (r["schedule"], r["dataset"], r["arm"], r["prediction"]) == (schedule, dataset, arm, prediction)
    }


def _member_model(ctx, part, row, cache):
    """The deterministic run's model of ``row`` (loaded once), checked against its sha256."""
    if row["seed"] in cache:
        return cache[row["seed"]]
    source = str(row.get("source", ""))
    if source.startswith("zoo:"):
        name = source[len("zoo:") :]
        if zoo.sha256(name) != row["model_sha256"]:
            raise ValueError(
                f"the zoo's {name} is not the model study.json measured (its sha256 differs): the zoo changed since; "
                "restore that model, or rerun the study into another --out."
            )
        model = zoo.load(name)
    else:
        path = os.path.join(_run_dir(ctx, part.dataset, "deterministic", row["seed"]), "model.keras")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"the baselines need the deterministic run's model {path}; pass --runs with the study's training runs, "
                "or --no-baselines."
            )
        if reports.sha256_file(path) != row["model_sha256"]:
            raise ValueError(f"{path} is not the model study.json measured (its sha256 differs); rerun that run first.")
        model = zoo.load(path)
    cache[row["seed"]] = model
    return model


def _baseline_row(ctx, part, arm, seed, prediction, fields, **extra):
    head = {"dataset": part.dataset, "schedule": ctx.schedule, "arm": arm, "method": "deterministic", "seed": seed}
    return {**head, "prediction": prediction, **fields, **extra}


def _mc_dropout_rows(ctx, part, member, model):
    """The ``mc-dropout`` rows and scores of one deterministic run (its ``mu`` row: the run's own)."""
    recipe = _recipe(ctx, part, "deterministic", member["seed"])
    train, validation = _run_splits(recipe, part.sets)
    cpu, start = _cpu_seconds(), time.perf_counter()
    view = MCDropout(model, NUM_SAMPLES, seed=member["seed"])
    fields, sampled = _measure_predictions(view.predict, part.sets, validation, train)
    plain = _test_scores(_probs_function(model, 0, 500)(part.sets.test[0]), part.sets.test[1], member["temperature"])
    provenance = {"model_sha256": member["model_sha256"], "source": member["source"], "train_seconds": None}
    measured = {key: member[key] for key in fields}
    mu = _baseline_row(ctx, part, "mc-dropout", member["seed"], "mu", measured, num_samples=1, eval_seconds=0.0)
    samples = _baseline_row(
        ctx,
        part,
        "mc-dropout",
        member["seed"],
        "samples",
        fields,
        num_samples=NUM_SAMPLES,
        eval_seconds=time.perf_counter() - start,
    )
    rows = [dict(row, **provenance, cpu_seconds=_cpu_seconds() - cpu) for row in (mu, samples)]
    return rows, {"mu": plain, "samples": sampled}


def _add_mc_dropout(study, ctx, part, members, cache):
    current = _rows_of(study, ctx.schedule, part.dataset, "mc-dropout", "samples")
    stale = {s for s, row in current.items() if s not in members or row["model_sha256"] != members[s]["model_sha256"]}
    study = _drop_rows(study, ctx.schedule, part.dataset, "mc-dropout", stale)
    for seed, member in sorted(members.items()):
        if seed in current and seed not in stale:
            continue
        model = _member_model(ctx, part, member, cache)
        if has_dropout(model):
            rows, scores = _mc_dropout_rows(ctx, part, member, model)
            study = _save_rows(study, ctx, part, rows, scores, member["model_sha256"])
    return study


def _ensemble_rows(ctx, part, members, models):
    """The ``deep-ensemble`` rows and scores of the deterministic runs ``members`` (seed -> row)."""
    seeds = sorted(members)
    cpu, start = _cpu_seconds(), time.perf_counter()

    def probs_of(images):
        return np.mean([_probs_function(model, 0, 500)(images) for model in models], axis=0)

    fields, scores = _measure_predictions(probs_of, part.sets)  # no common validation or training split
    extra = {
        "num_samples": 1,
        "members": seeds,
        "members_sha256": [members[s]["model_sha256"] for s in seeds],
        "model_sha256": None,
        "source": f"mean of the deterministic seeds {seeds}",
        "train_seconds": None,
    }
    row = _baseline_row(
        ctx, part, "deep-ensemble", seeds[0], "mu", fields, **extra, eval_seconds=time.perf_counter() - start
    )
    row["cpu_seconds"] = _cpu_seconds() - cpu
    return [row, dict(row, prediction="samples", eval_seconds=0.0)], {prediction: scores for prediction in PREDICTIONS}


def _add_ensemble(study, ctx, part, members, cache):
    seeds = sorted(members)
    shas = [members[s]["model_sha256"] for s in seeds]
    current = [
        r
        for r in study["runs"]
        if (r["schedule"], r["dataset"], r["arm"]) == (ctx.schedule, part.dataset, "deep-ensemble")
    ]
    if len(seeds) >= 2 and len(current) == len(PREDICTIONS) and all(r.get("members_sha256") == shas for r in current):
        return study
    study = _drop_rows(study, ctx.schedule, part.dataset, "deep-ensemble")
    if len(seeds) < 2:
        return study
    rows, scores = _ensemble_rows(ctx, part, members, [_member_model(ctx, part, members[s], cache) for s in seeds])
    return _save_rows(study, ctx, part, rows, scores, ",".join(shas))


def _add_baselines(study, ctx, part):
    """The baselines of (schedule, data set), computed where missing or of other members."""
    members = _rows_of(study, ctx.schedule, part.dataset, "deterministic")
    cache = {}
    study = _add_mc_dropout(study, ctx, part, members, cache)
    study = _add_ensemble(study, ctx, part, members, cache)
    reports.write_json(ctx.path, study)
    return study


# -- the pooled paired bootstrap of the compared pair


def _scores_of_row(ctx, part, row):
    """The per-example scores of a row's run, or ``None`` when its file was never written."""
    path = scores_path(ctx.out_dir, ctx.schedule, part.dataset, row["arm"], row["seed"])
    if not os.path.isfile(path):
        return None
    labels, scores, identity = read_scores(path)
    if identity != str(row["model_sha256"]) or not np.array_equal(labels, part.sets.test[1]):
        raise ValueError(
            f"{path} holds the scores of another model or test split than study.json's row; rerun that run."
        )
    return scores


def _bootstrap_record(study, ctx, part):
    """The pooled paired bootstrap of ``dualib-paper`` against ``vib-same-noise`` in (schedule,
    data set): ``{"pair", "seeds", "by_prediction": {prediction: {measure: interval}}}``, with
    ``missing`` naming runs without score files; ``None`` without both arms."""
    pair = _COMPARISONS[0]
    rows = {arm: _rows_of(study, ctx.schedule, part.dataset, arm) for arm in pair}
    seeds = [(seed, seed) for seed in sorted(set(rows[pair[0]]) & set(rows[pair[1]]))]  # the seeds both arms ran
    if not seeds:
        return None
    record = {"pair": list(pair), "seeds": [list(s) for s in seeds], "by_prediction": {}}
    runs = {arm: [_scores_of_row(ctx, part, rows[arm][s[i]]) for s in seeds] for i, arm in enumerate(pair)}
    missing = [
        f"{arm} seed {s[i]}" for i, arm in enumerate(pair) for s, scores in zip(seeds, runs[arm]) if scores is None
    ]
    if missing:
        return dict(record, missing=missing)
    for prediction in PREDICTIONS:
        runs_a, runs_b = ([scores[prediction] for scores in runs[arm]] for arm in pair)
        record["by_prediction"][prediction] = {
            measure: pooled_interval(runs_a, runs_b, measure)
            for measure in INTERVAL_MEASURES
            if all(key in scores for scores in runs_a + runs_b for key in examples.MEASURES[measure])
        }
    return record


def run_study(
    out_dir,
    dataset_names=None,
    arms=None,
    seeds=(0, 1, 2),
    runs_dir=None,
    schedules=None,
    references=None,
    limit=None,
    corruption_limit=None,
    data_dir=None,
    progress=True,
    schedule=SHORT,
    smoke=None,
    baselines=True,
):
    """Train and measure every (data set, arm, seed) of ``schedule`` not yet in ``out_dir/study.json``,
    then its baselines and the pooled bootstrap of the compared pair.

    Each finished run's two rows are written into ``study.json`` at once (atomically), its
    per-example test scores into ``scores/`` just before, so an interrupted study loses at most
    the run in progress; rerunning skips finished runs, reuses a trained model whose rows are
    missing and resumes an interrupted training from its checkpoint. Before training anything,
    the p~ of every confusion arm is computed once per (data set, seed), so a reference that
    cannot serve a seed fails at once.

    Args:
        out_dir: where ``study.json`` (and ``scores/``) go.
        dataset_names: data sets (default: :data:`SCHEDULES`' for the short schedule,
            :data:`FULL_DATASETS` for the full one).
        arms: names of :data:`ARMS` (default all seven; :data:`FULL_ARMS` for the full schedule).
        seeds: seeds (>= 0), each a run of every arm.
        runs_dir: folder of the training runs, ``{runs_dir}/{dataset}/{arm}/seed{seed}``, with
            ``full/`` before the data set for the full schedule (default ``{out_dir}/runs``).
        schedules: data set -> overrides of the short schedule (default :data:`SCHEDULES`).
        references: data set -> p~ reference (zoo name or ``.keras`` path) instead of the
            paper recipe's zoo deterministic model.
        limit: test examples used (``None``: all).
        corruption_limit: test examples corrupted for the shift measures (``None``: all).
        data_dir: folder with the data files.
        progress: show a progress bar.
        schedule: :data:`SHORT` (``"short"``) or :data:`FULL` (``"full"``).
        smoke: recipe overrides laid over every arm's recipe for a smoke test (e.g.
            :data:`SMOKE_SCHEDULE`; the full schedule's only way to shorten); recorded, and a
            study folder holds one setting.
        baselines: add the ``deep-ensemble`` and ``mc-dropout`` rows (they need the deterministic
            runs' models in ``runs_dir``, or the zoo's).

    Returns:
        The study dict, as written to ``study.json``. Each row of :func:`evaluate_model` also
        records ``schedule``, ``model_sha256``, ``source`` (the run folder, or ``zoo:<name>``),
        ``train_seconds`` (wall time of the training, from ``train.json`` or the zoo card) and
        ``cpu_seconds`` (CPU time of this process for the run's training, or its remainder when
        resumed, and both evaluations). ``study["schedules"][schedule][dataset]`` keeps the
        schedule's record: overrides, smoke, evaluation sets, recipes, data splits, p~, zoo reuse
        and ``bootstrap``.

    Raises:
        FileNotFoundError: a p~ reference file that does not exist; a deterministic model the
            baselines need.
        ValueError: an unknown schedule, arms or data sets outside the full schedule's, a
            ``study.json`` written with another protocol or another schedule for a data set, or a
            p~ reference that held out another split (:func:`vdualib.training.label_noise_from_recipe`
            decides; a zoo reference trained with seed 0 held out the split of seed 0 only).
    """
    dataset_names, arms, seeds = _study_arguments(schedule, dataset_names, arms, seeds, schedules)
    smoke = None if smoke is None else _check_overrides("smoke", smoke)
    out_dir = os.fspath(out_dir)
    runs_dir = os.fspath(runs_dir) if runs_dir is not None else os.path.join(out_dir, "runs")
    ctx = _Context(out_dir, os.path.join(out_dir, "study.json"), runs_dir, schedule, smoke, data_dir, progress)
    schedules = dict(schedules or {})
    references = {datasets.canonical_name(k): v for k, v in (references or {}).items()}
    study = _load_study(ctx.path)
    parts = []
    for dataset in dataset_names:
        _check_schedule(dataset, FULL if schedule == FULL else schedules.get(dataset))  # before loading any data
        sets = evaluation_sets(dataset, limit=limit, corruption_limit=corruption_limit, data_dir=data_dir)
        parts.append(_prepare_part(study, ctx, dataset, schedules.get(dataset), references.get(dataset), sets))
        _check_recipes(study, ctx, parts[-1], arms)
        _record_splits_and_noise(ctx, parts[-1], arms, seeds)
    reports.write_json(ctx.path, study)
    study = _run_arms(study, ctx, parts, arms, seeds, progress)
    for part in parts:
        study = _add_baselines(study, ctx, part) if baselines else study
        part.record["bootstrap"] = _bootstrap_record(study, ctx, part)
    study["provenance"] = reports.provenance()
    reports.write_json(ctx.path, study)
    return study


# ---------------------------------------------------------------------------------------------
# trained models, one seed each (schedule "models")


def _model_recipe(spec, card):
    recipe = training.recorded_recipe(spec, card)
    if recipe is None:
        raise FileNotFoundError(
            f"{spec} has no train.json beside it, so its data split is unknown; pass a zoo name or a model.keras "
            "written by vdualib.training.train (which writes train.json next to it)."
        )
    return recipe


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
        raise ValueError(
            f"the models were trained on different data sets {sorted(found)}; evaluate each data set apart."
        )
    arms = [info["method"] for _, _, info, _ in loaded]
    if len(set(arms)) != len(arms):
        raise ValueError(
            f"two models share a method ({arms}); their rows would share an arm name. Pass one model a method."
        )
    return loaded, found.pop()


def _measure_models(loaded, sets, train_limit, progress):
    rows = []
    for spec, model, info, recipe in tqdm(loaded, desc=f"{sets.dataset} models", disable=not progress):
        cpu = _cpu_seconds()
        measured = evaluate_model(model, recipe, sets, info["method"], train_limit=train_limit)
        cpu = _cpu_seconds() - cpu
        extra = {"model_sha256": info["sha256"], "source": info["source"], "train_seconds": None, "cpu_seconds": cpu}
        rows += [{"dataset": row["dataset"], "schedule": MODELS, **row, **extra} for row in measured]
    description = {
        "evaluation": sets.description,
        "models": {
            info["method"]: {"source": info["source"], "sha256": info["sha256"], "recipe": r}
            for _, _, info, r in loaded
        },
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
        ``(rows, description)``: the rows, whose ``arm`` is the model's method (``"vib"``) and
        ``schedule`` is :data:`MODELS`, and a JSON-ready dict of the data set's evaluation sets and
        the models' sources for ``study["schedules"]["models"]``.

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
    ``out_dir/study.json`` under the schedule :data:`MODELS` (replacing earlier rows of the same
    models' data set, arm and seed there; the study's own runs, keyed by their schedule, stay).

    Models can be added in several calls (the deterministic reference first, its VIB and VdualIB
    later): the data set's record keeps every model's source, as long as each call measures on
    the same evaluation sets and training limit.

    Returns:
        The study dict, as written.

    Raises:
        ValueError: as :func:`evaluate_models`; also when ``study.json`` holds models measured on
            other evaluation sets or another ``train_limit``. Checked before measuring.
    """
    path = os.path.join(out_dir, "study.json")
    study = _load_study(path)
    loaded, dataset = _load_models(specs)
    records = study["schedules"].setdefault(MODELS, {})
    record = records.get(dataset)
    sets = evaluation_sets(dataset, limit=limit, corruption_limit=corruption_limit, data_dir=data_dir)
    if record is not None and (
        record.get("evaluation") != sets.description or record.get("train_limit") != train_limit
    ):
        raise ValueError(
            f"{path} holds {dataset} models measured on other evaluation sets or another --train-limit "
            f"({record.get('train_limit')}); use the same --limit, --corruption-limit and --train-limit, or another --out."
        )
    rows, description = _measure_models(loaded, sets, train_limit, progress)
    study = merge_rows(study, rows)
    if record is not None:
        description["models"] = dict(record.get("models", {}), **description["models"])
    records[dataset] = description
    study["provenance"] = reports.provenance()
    reports.write_json(path, study)
    return study


# ---------------------------------------------------------------------------------------------
# summary and verdicts


def _arms_of(rows):
    order = {}
    for name in ARM_NAMES + BASELINES + methods.names():
        order.setdefault(name, len(order))
    return sorted({r["arm"] for r in rows}, key=lambda a: (order.get(a, len(order)), a))


def _check_study(study):
    if not isinstance(study, dict) or "runs" not in study or "protocol" not in study:
        raise ValueError("expected the study's record (a dict with 'runs' and 'protocol', as study.json holds).")


def _check_row(index, row):
    if not isinstance(row, dict):
        raise ValueError(f"run {index} must be a dict, got {type(row).__name__}.")
    missing = [key for key in ("dataset", "schedule", "arm", "seed", "prediction") if key not in row]
    if missing:
        raise ValueError(
            f"run {index} lacks {missing}; is this a study.json of scripts/dualib_study.py? (one written before the "
            "schedules existed is read through migrate_study)"
        )
    if not all(isinstance(row[key], str) and row[key] for key in ("dataset", "arm")):
        raise ValueError(
            f"run {index}: dataset and arm must be non-empty strings, got {row['dataset']!r}, {row['arm']!r}."
        )
    if row["schedule"] not in _ROW_SCHEDULES:
        raise ValueError(f"run {index}: schedule must be one of {list(_ROW_SCHEDULES)}, got {row['schedule']!r}.")
    if row["prediction"] not in PREDICTIONS:
        raise ValueError(f"run {index}: prediction must be one of {list(PREDICTIONS)}, got {row['prediction']!r}.")
    checks.non_negative_int(f"run {index} seed", row["seed"])
    for measure in MEASURES:
        value = row.get(measure)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value)
        ):
            raise ValueError(f"run {index}: {measure} must be a finite number or null, got {value!r}.")


def check_runs(rows):
    """Refuse rows that are not the study's runs, before anything averages them.

    Args:
        rows: the study's ``runs``: dicts with ``dataset``, ``arm``, ``schedule`` (``"full"``,
            ``"short"`` or ``"models"``) and ``prediction`` (one of :data:`PREDICTIONS`), a
            non-negative integer ``seed``, and each measure of :data:`MEASURES` a finite number
            or ``None`` (not measured).

    Returns:
        ``rows``.

    Raises:
        ValueError: not a list of such dicts; the message names the first bad row.

    Example:
        >>> check_runs(migrate_study(reports.read_json("scripts/results/dualib_study/study.json"))["runs"])
    """
    if not isinstance(rows, (list, tuple)):
        raise ValueError(f"the study's runs must be a list of rows, got {type(rows).__name__}.")
    for index, row in enumerate(rows):
        _check_row(index, row)
    return rows


def _stats(arm_rows):
    stats = {}
    for measure in MEASURES:
        values = np.array([r[measure] for r in arm_rows if r.get(measure) is not None], dtype=np.float64)
        stats[measure] = {
            "mean": float(values.mean()) if values.size else None,
            "std": float(values.std(ddof=1)) if values.size > 1 else None,
            "n": int(values.size),
        }
    return stats


def summarize(rows, schedule=None):
    """Mean and spread over seeds of every measure, for the rows of one schedule.

    Args:
        rows: the study's ``runs``.
        schedule: the schedule summarized (``"full"``, ``"short"`` or ``"models"``); ``None``
            when every row is of one schedule.

    Returns:
        ``{dataset: {prediction: {arm: {measure: {"mean", "std", "n"}}}}}``: ``std`` is the sample
        standard deviation (ddof=1), ``None`` with fewer than two seeds; missing values (a
        temperature that could not be fitted) are left out of ``n``.

    Raises:
        ValueError: rows that are not the study's (see :func:`check_runs`), an unknown schedule,
            or rows of several schedules without ``schedule``.
    """
    check_runs(rows)
    if schedule is None:
        found = sorted({r["schedule"] for r in rows})
        if len(found) > 1:
            raise ValueError(f"the rows are of the schedules {found}; summarize one at a time (schedule=...).")
    elif schedule not in _ROW_SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose from {list(_ROW_SCHEDULES)}.")
    summary = {}
    for row in rows:
        if schedule is None or row["schedule"] == schedule:
            summary.setdefault(row["dataset"], {}).setdefault(row["prediction"], {}).setdefault(row["arm"], []).append(
                row
            )
    for by_prediction in summary.values():
        for by_arm in by_prediction.values():
            for arm, arm_rows in by_arm.items():
                by_arm[arm] = _stats(arm_rows)
    return summary


# where a one-seed comparison (the CIFAR-10 zoo models) gets what uncertainty it can have
_ONE_SEED_POINTER = (
    "For the zoo's models, `python -m scripts.compare` gives each clean difference a paired bootstrap interval over the "
    "test examples: the test-set noise, not the seed spread."
)


def verdict(a, b, measure):
    """Whether arm A beats arm B on ``measure`` beyond the seed spread (the seed rule).

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


def _intervals(bootstrap, pair, prediction):
    """measure -> pooled interval of ``pair`` in one prediction mode, from a bootstrap record."""
    if not bootstrap or bootstrap.get("pair") != list(pair):
        return {}
    return (bootstrap.get("by_prediction") or {}).get(prediction) or {}


def verdicts(summary, dataset, prediction=PREDICTIONS[0], bootstrap=None):
    """The verdicts of one data set and prediction mode (of one schedule's summary).

    Args:
        summary: :func:`summarize` of one schedule.
        dataset: a data set of it.
        prediction: a prediction mode.
        bootstrap: the (schedule, data set) record's ``bootstrap`` (pooled intervals), or ``None``.

    Returns:
        ``None`` without a pair to compare, else a dict: ``pair`` (the compared arms:
        ``dualib-paper`` and ``vib-same-noise``, or ``dualib`` and ``vib`` for models named
        after their method), per measure ``main`` (the seed rule, A against B, with both stats),
        ``interval`` and ``interval_verdict`` (the pooled bootstrap, ``None`` without one),
        ``headline`` (:func:`headline_verdict`) and ``ablations`` (``dualib-paper`` against
        each ablation present by the seed rule: ``better`` means dropping that ingredient hurts),
        and ``carried_by``: measure -> the ingredients that carry a decided headline difference:
        where ``dualib-paper`` beats ``vib-same-noise``, those whose ablation it also beats; where
        it loses, those whose ablation beats it (dropping them removes the harm).
    """
    arms = summary.get(dataset, {}).get(prediction, {})
    pair = next(((a, b) for a, b in _COMPARISONS if a in arms and b in arms), None)
    if pair is None:
        return None
    a, b = pair
    intervals = _intervals(bootstrap, pair, prediction)
    result = {"pair": list(pair), "measures": {}, "carried_by": {}}
    ablations = [arm for arm in ARMS.values() if arm.drops and arm.name in arms and a == "dualib-paper"]
    for measure in MEASURES:
        main, interval = verdict(arms[a][measure], arms[b][measure], measure), intervals.get(measure)
        by_interval = None if interval is None else interval_verdict(interval, measure)
        entry = {
            "main": main,
            "interval": interval,
            "interval_verdict": by_interval,
            "headline": headline_verdict(main, by_interval),
            a: arms[a][measure],
            b: arms[b][measure],
            "ablations": {arm.name: verdict(arms[a][measure], arms[arm.name][measure], measure) for arm in ablations},
        }
        result["measures"][measure] = entry
        # an ingredient carries a difference when dropping it moves dualib-paper the same way
        # against the ablation as against vib-same-noise (better without it gone, or worse)
        headline = entry["headline"]
        result["carried_by"][measure] = [
            arm.drops for arm in ablations if headline != "undecided" and entry["ablations"][arm.name] == headline
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


def _interval_text(interval, digits=4):
    return f"{interval['difference']:+.{digits}f} [{interval['low']:+.{digits}f}, {interval['high']:+.{digits}f}]"


def _schedules_of(study):
    """The schedules with rows, in report order: full, short, models."""
    present = {row["schedule"] for row in study["runs"]}
    return [schedule for schedule in _ROW_SCHEDULES if schedule in present]


def _dataset_title(dataset, bold=False):
    """``fashion-mnist``, or ``mnist (our addition; ...)`` (the name in bold for the README)."""
    note = _DATASET_NOTES.get(dataset)
    slug = datasets.info(dataset).slug
    return (f"**{slug}**" if bold else slug) + (f" ({note})" if note else "")


def _panels(study):
    """``(schedule, dataset, {prediction: {arm: stats}})`` of every figure column."""
    panels = []
    for schedule in _schedules_of(study):
        summary = summarize(study["runs"], schedule)
        panels += [(schedule, d, summary[d]) for d in datasets.DATASETS if d in summary]
    return panels


def _draw_panel(ax, arms, everyone, title):
    markers = "osD^v<>ph*"
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
    ax.set(xlabel="test accuracy", ylabel=f"test ECE ({NUM_BINS} bins)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def study_figure(study):
    """ECE against accuracy for every arm, with seed error bars (± one sample std), one panel per
    schedule and data set (columns) and prediction mode (rows), drawn from the study JSON alone.

    Returns:
        A matplotlib figure; each arm is one ``errorbar`` labelled with its name.

    Raises:
        ValueError: ``study`` is not a study record.
    """
    _check_study(study)
    study = migrate_study(study)
    panels = _panels(study)
    columns = max(len(panels), 1)
    plt = plotting.pyplot()
    figure, axes = plt.subplots(
        len(PREDICTIONS), columns, figsize=(5.2 * columns, 4.2 * len(PREDICTIONS)), squeeze=False
    )
    everyone = _arms_of(study["runs"])
    for column, (schedule, dataset, by_prediction) in enumerate(panels):
        for row, prediction in enumerate(PREDICTIONS):
            title = f"{datasets.info(dataset).slug} ({schedule}), prediction: {prediction}"
            _draw_panel(axes[row][column], by_prediction.get(prediction, {}), everyone, title)
    figure.suptitle("Arms of the dual IB study: mean over seeds ± one sample standard deviation")
    figure.tight_layout()
    return figure


_VERDICT_WORDS = {"better": "better", "worse": "worse", "undecided": "within seed spread"}
_INTERVAL_WORDS = {"better": "better", "worse": "worse", "undecided": "holds 0"}


def _capped_classes(record, threshold):
    """``(arms, diagonal, capped classes)`` of a record's p~ (seed 0's), or ``None``."""
    noise = record.get("label_noise") or {}
    source = noise.get("0") or next(iter(noise.values()), None)
    arms = [
        arm
        for arm in _arms_of([{"arm": a} for a in record.get("recipes") or {}])
        if record["recipes"][arm].get("label_noise") == "confusion"
    ]
    if not source or "matrix" not in source or not arms:
        return None
    diagonal = np.diag(np.asarray(source["matrix"], dtype=np.float64))
    return arms, diagonal, [int(k) for k in np.flatnonzero(diagonal <= threshold)]


_CAP_POINTER = (
    "`confident_train_errors` of the arms trained towards p~ are capped by p~ here too: see the note under "
    f"the `{PREDICTIONS[0]}` table."
)


def _cap_note(record, protocol_record):
    """The report's note beside ``confident_train_errors``: how p~ caps the count, from the
    recorded p~ and the protocol's threshold (``None`` without arms trained towards p~)."""
    threshold = protocol_record.get("confidence_threshold", CONFIDENCE_THRESHOLD)
    found = _capped_classes(record, threshold)
    if found is None:
        return None
    arms, diagonal, capped = found
    head = (
        f"Note on `confident_train_errors` of the arms trained towards p~ ({', '.join(f'`{a}`' for a in arms)}): "
        f"{protocol_record.get('confident_train_errors_cap', _CAP_TEXT)}"
    )
    if not capped:
        return f"{head} Here p~(y|y) > {threshold:g} on every class (smallest {diagonal.min():.4g}), so the cap does not bind."
    values = ", ".join(f"class {k}: {diagonal[k]:.4g}" for k in capped)
    return (
        f"{head} Here p~(y|y) <= {threshold:g} on {len(capped)} of {diagonal.size} classes ({values}; p~ of the seed-0 "
        f"reference): on those a model that fits p~ never passes the {threshold:g} confidence the count asks for."
    )


def _record_lines(record):
    """What a (schedule, data set) record says about how its rows were made."""
    lines = []
    if record.get("overrides") is not None:
        overrides = record["overrides"]
        lines.append(
            f"Schedule shared by every arm: `{overrides}`." if overrides else "Each arm's zoo recipe, unchanged."
        )
    if record.get("smoke"):
        lines.append(
            f"Smoke overrides laid over every recipe (a test of the machinery, not the study): `{record['smoke']}`."
        )
    if record.get("reference"):
        seeds = record.get("label_noise", {})
        accuracy = [s.get("reference_accuracy") for s in seeds.values() if s.get("reference_accuracy") is not None]
        acc_text = f", accuracy {np.mean(accuracy):.4f} on the validation split" if accuracy else ""
        reference = record["reference"]
        lines.append(
            f"p~: confusion matrix of `{reference['reference']}` (sha256 {reference['sha256'][:12]}…{acc_text})."
        )
    if record.get("zoo"):
        reuse = [
            f"`{arm}`: {'measured' if e['model'] else 'trained'} ({e['reason']})" for arm, e in record["zoo"].items()
        ]
        lines.append(f"Seed 0 and the zoo: {'; '.join(reuse)}.")
    if record.get("models"):
        models = ", ".join(
            f"`{arm}` = {m['source']} (targets: {recipes.describe_targets(m['recipe'])})"
            for arm, m in record["models"].items()
        )
        lines.append(f"Models: {models} (one seed each).")
    if record.get("evaluation"):
        ev = record["evaluation"]
        lines.append(f"Evaluation: {ev.get('test')}; shift on {ev.get('shifted')}; OOD {ev.get('ood')}.")
    missing = (record.get("bootstrap") or {}).get("missing")
    if missing:
        lines.append(f"No pooled bootstrap: no per-example test scores for {', '.join(missing)}.")
    return lines + [""]


def _verdict_row(measure, entry, found, with_interval):
    a, b = found["pair"]
    row = {
        "measure": measure,
        a: _mean_std(entry[a], _digits(measure)),
        b: _mean_std(entry[b], _digits(measure)),
        f"{a} vs {b}": _VERDICT_WORDS[entry["main"]],
    }
    if with_interval:
        interval = entry["interval"]
        row["pooled difference [interval]"] = "-" if interval is None else _interval_text(interval)
        row["bootstrap"] = "-" if interval is None else _INTERVAL_WORDS[entry["interval_verdict"]]
        row["headline"] = entry["headline"] + ("" if interval is not None else " (seed rule only)")
    for ablation, word in entry["ablations"].items():
        row[f"vs {ablation}"] = _VERDICT_WORDS[word]
    row["carried by"] = ", ".join(found["carried_by"][measure]) or "-"
    return row


def _verdict_lines(found, prediction):
    if found is None:
        return []
    a, b = found["pair"]
    measures = found["measures"]
    with_interval = any(e["interval"] is not None for e in measures.values())
    one_seed = min(min(e[a]["n"], e[b]["n"]) for e in measures.values()) < 2
    if one_seed and not with_interval:
        return [
            f"`{a}` against `{b}`: one seed, so no difference can be judged against the seed spread. {_ONE_SEED_POINTER}",
            "",
        ]
    how = "" if with_interval else " by the seed rule alone (these runs kept no per-example test scores)"
    how += " (one seed: the seed rule cannot decide, so neither can the headline)" if one_seed else ""
    lines = [
        f"Verdicts ({prediction}){how}: `{a}` against `{b}`, and against each ablation "
        "(`better` there means dropping that ingredient hurts):",
        "",
        reports.markdown_table([_verdict_row(m, e, found, with_interval) for m, e in measures.items()]),
    ]
    if (a, b) == ("dualib", "vib"):
        lines += [
            "These models are compared by method: `vib` is trained towards the targets named above, not the same p~.",
            "",
        ]
    return lines


def _dataset_markdown(study, dataset, summary, record):
    lines = [f"### {_dataset_title(dataset)}", "", *_record_lines(record)]
    cap = _cap_note(record, study["protocol"])
    for prediction in PREDICTIONS:
        arms = summary.get(prediction)
        if not arms:
            continue
        table = [
            {
                "arm": arm,
                "seeds": arms[arm]["accuracy"]["n"],
                **{m: _mean_std(arms[arm][m], _digits(m)) for m in MEASURES},
            }
            for arm in _arms_of([{"arm": a} for a in arms])
        ]
        lines += [f"#### prediction: {prediction} (mean ± sample std over seeds)", "", reports.markdown_table(table)]
        if cap:
            lines += [cap if prediction == PREDICTIONS[0] else _CAP_POINTER, ""]
        lines += _verdict_lines(verdicts({dataset: summary}, dataset, prediction, record.get("bootstrap")), prediction)
    return lines


def _schedule_markdown(study, schedule):
    summary = summarize(study["runs"], schedule)
    records = study.get("schedules", {}).get(schedule, {})
    text = study["protocol"].get("schedules", {}).get(schedule)
    lines = [f"## {_SCHEDULE_TITLES[schedule]}", "", *([text, ""] if text else [])]
    for dataset in [d for d in datasets.DATASETS if d in summary]:
        lines += _dataset_markdown(study, dataset, summary[dataset], records.get(dataset, {}))
    return lines


def _cost_markdown(runs):
    timing = [
        r
        for r in runs
        if r.get("train_seconds") is not None and r["prediction"] == PREDICTIONS[0] and r["arm"] not in BASELINES
    ]
    if not timing:
        return []
    per, evaluated = {}, {}
    for r in timing:
        per.setdefault((r["schedule"], r["dataset"]), []).append(r)
    for r in runs:
        evaluated[_key(r)] = evaluated.get(_key(r), 0.0) + (r.get("eval_seconds") or 0.0)
    table = [
        {
            "schedule": schedule,
            "dataset": dataset,
            "runs": len(rs),
            "train seconds (mean)": float(np.mean([r["train_seconds"] for r in rs])),
            "evaluation seconds, both modes (mean)": float(np.mean([evaluated[_key(r)] for r in rs])),
            "process CPU seconds (mean)": float(np.mean([r.get("cpu_seconds") or 0.0 for r in rs])),
        }
        for (schedule, dataset), rs in per.items()
    ]
    return ["## Cost", "", reports.markdown_table(table, digits=0)]


def report_markdown(study):
    """The study's Markdown report (per schedule: tables, verdicts; the protocol), from the JSON
    alone (a study.json of the earlier layout is read as the short schedule).

    Raises:
        ValueError: ``study`` is not a study record (a dict with ``runs`` and ``protocol``).
    """
    _check_study(study)
    study = migrate_study(study)
    check_runs(study["runs"])
    protocol_record = study["protocol"]
    baselines = protocol_record.get("baselines", {})
    lines = [
        "# The dual IB, tested in a controlled study",
        "",
        "Generated by `scripts/dualib_study.py` from `study.json`; do not edit.",
        "",
        "Arms: " + "; ".join(f"`{name}`: {arm['description']}" for name, arm in protocol_record["arms"].items()) + ".",
        "",
        *(
            ["Baselines from the same runs: " + " ".join(f"`{n}`: {t}" for n, t in baselines.items()), ""]
            if baselines
            else []
        ),
        f"Decision rule: {protocol_record.get('decision_rule', protocol_record['verdict_rule'])}",
        "",
        f"Seed rule: {protocol_record['verdict_rule']}",
        "",
        *([f"Bootstrap rule: {protocol_record['interval_rule']}", ""] if protocol_record.get("interval_rule") else []),
        f"Shift: {', '.join(protocol_record['shift_corruptions'])} at severity {protocol_record['shift_severity']}. "
        f"OOD score: {protocol_record['ood_score']}. Temperature: {protocol_record['temperature']}. "
        f"Confident training errors: confidence > {protocol_record['confidence_threshold']}.",
        "",
        "![ECE against accuracy](study.png)",
        "",
    ]
    for schedule in _schedules_of(study):
        lines += _schedule_markdown(study, schedule)
    lines += _cost_markdown(study["runs"])
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


def _readme_measure(measure, entry, found, with_interval, capped):
    a, b = found["pair"]
    text = f"{measure} {_mean_std(entry[a], _digits(measure))} vs {_mean_std(entry[b], _digits(measure))}"
    if entry["interval"] is not None:
        text += f" (pooled difference {_interval_text(entry['interval'])})"
    elif with_interval:
        text += " (seed rule only)"
    if measure == "confident_train_errors" and capped:
        text += f" (capped by p~ on {len(capped)} classes: see the report)"
    carried = found["carried_by"][measure]
    return text + (f", carried by {' and '.join(carried)}" if carried else "")


def _readme_line(found, dataset, record, threshold):
    a, b = found["pair"]
    measures = found["measures"]
    seeds = min(e[a]["n"] for e in measures.values())
    setting = _recipe_phrase((record.get("recipes") or {}).get(a))
    what = f" (the paper's objective and p~, on the {setting})" if a == "dualib-paper" and setting else ""
    head = (
        f"{_dataset_title(dataset, bold=True)}, `{a}`{what} against `{b}` over {seeds} seed{'s' if seeds != 1 else ''}"
    )
    with_interval = any(e["interval"] is not None for e in measures.values())
    if seeds < 2 and with_interval:
        differences = "; ".join(f"{m} {_interval_text(e['interval'])}" for m, e in measures.items() if e["interval"])
        return f"{head}: one seed, so no headline (the seed rule cannot decide); pooled bootstrap differences: {differences}."
    if seeds < 2:
        return f"{head}: one seed, so no difference can be told from the seed spread. {_ONE_SEED_POINTER}"
    parts = [head + ("" if with_interval else " (seed rule only: no per-example test scores were kept)") + ":"]
    capped = (_capped_classes(record, threshold) or (None, None, []))[2]
    groups = {
        word: [m for m, e in measures.items() if e["headline"] == word] for word in ("better", "worse", "undecided")
    }
    for word in ("better", "worse"):
        if groups[word]:
            described = "; ".join(_readme_measure(m, measures[m], found, with_interval, capped) for m in groups[word])
            parts.append(f"{word} on {described}.")
    if not groups["better"] and not groups["worse"]:
        parts.append(
            "no measure differs beyond the seed spread" + (" and the test-set noise." if with_interval else ".")
        )
    elif groups["undecided"]:
        parts.append(f"{'Undecided' if with_interval else 'Within the seed spread'}: {', '.join(groups['undecided'])}.")
    return " ".join(parts)


def _readme_schedule(study, schedule):
    summary = summarize(study["runs"], schedule)
    records = study.get("schedules", {}).get(schedule, {})
    threshold = (study.get("protocol") or {}).get("confidence_threshold", CONFIDENCE_THRESHOLD)
    items = []
    for dataset in [d for d in datasets.DATASETS if d in summary]:
        record = records.get(dataset, {})
        found = verdicts(summary, dataset, PREDICTIONS[0], record.get("bootstrap"))
        if found is not None:
            items.append("- " + _readme_line(found, dataset, record, threshold))
    return [f"**{_SCHEDULE_TITLES[schedule]}**:", "", *items, ""] if items else []


def readme_block(study, link="scripts/results/dualib_study/study.md"):
    """A short Markdown answer for the README (``scripts/update_readme.py``), from the JSON: per
    schedule (full first when it has runs, then the short ablation study, then trained models) and
    data set, where ``dualib-paper`` beats ``vib-same-noise`` by the headline rule, where it loses,
    and which ingredients carry those differences (decoder at mu, the paper's protocol).

    Returns:
        The Markdown text, or ``None`` when no data set has a pair of arms to compare.
    """
    study = migrate_study(study)
    lines = []
    for schedule in _schedules_of(study):
        lines += _readme_schedule(study, schedule)
    if not lines:
        return None
    level = examples.BOOTSTRAP["confidence_level"]
    lines.append(
        "Decoder at mu; better/worse means the difference of the means exceeds the sum of the two seed standard "
        f"deviations and, where per-example test scores were kept, the pooled paired bootstrap's {level:.0%} interval "
        f"lies on the same side of 0. Details: [{link}]({link})."
    )
    return "\n".join(lines)
