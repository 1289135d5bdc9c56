"""The NTK information study: information of infinite ensembles against training time and sample size.

For each task of :mod:`vdualib.ntk.tasks`, an infinitely wide MLP (``depth``
hidden layers, NTK parameterisation) is trained as an infinite ensemble by
gradient flow on the squared loss to centred one-hot targets (one-hot minus
1/k), in closed form (:class:`~vdualib.ntk.KernelEnsemble`). The kernels are
computed once on the largest training pool and the test set; every nested
training set of ``sizes`` gets its curve
(:func:`~vdualib.ntk.information.information_curve`) at log-spaced times and
t = inf, on the training points and on the test set, with Z the ensemble output
plus Gaussian noise of variance ``noise_variance``:

* I(X;Z): InfoNCE lower / leave-one-out upper bound (exact Gaussian densities);
* I(Z;Y): the class-conditional bounds;
* KL(ensemble outputs on the training inputs || their prior);
* the accuracy of the ensemble mean.

All information is in bits. :func:`run_study` writes ``ntk_information.json``
(with provenance) and :func:`render` the figures (``{task}_time.png``,
``{task}_size.png``, :mod:`vdualib.ntk.plots`) and ``ntk_information.md`` from
that JSON alone.

Example:
    >>> settings = NTKStudySettings(tasks=("12bit",), sizes={"12bit": (16, 32)}, num_test=32, num_times=4)
    >>> run_study("runs/ntk-information", settings)
"""

import dataclasses
import os
import time

import numpy as np
from tqdm import tqdm

from vdualib import checks
from vdualib.ntk.ensemble import KernelEnsemble
from vdualib.ntk.information import information_curve
from vdualib.ntk.kernels import ACTIVATIONS, kernels
from vdualib.ntk.plots import plot_size_curves, plot_time_curves
from vdualib.ntk.tasks import TASKS, load_task
from vdualib.plotting import save_figure
from vdualib.reports import markdown_table, provenance, read_json, write_json, write_text

__all__ = ["NTKStudySettings", "study_times", "centred_one_hot", "task_curves", "run_study", "markdown", "render", "JSON_NAME"]

JSON_NAME = "ntk_information.json"
_ACTIVATION_NAMES = {"relu": "ReLU", "erf": "erf"}


@dataclasses.dataclass(frozen=True)
class NTKStudySettings:
    """Settings of the NTK study (defaults: the published run).

    Args:
        tasks: a tuple of :data:`~vdualib.ntk.tasks.TASKS`.
        sizes: ``{task: increasing training-set sizes (>= 4)}``.
        num_test: test points.
        t_min, t_max, num_times: ``num_times`` log-spaced finite times; t = inf is added.
        depth, activation, w_std, b_std: the infinitely wide MLP.
        learning_rate, diag_reg: see :class:`~vdualib.ntk.KernelEnsemble`.
        noise_variance: variance of the noise added to the outputs.
        num_draws: z samples per point for the contrastive bounds.
        seed: seed of the data permutations and of the z samples.

    Raises:
        ValueError: an unknown task or activation, sizes not increasing from 4, or a bad number.

    Example:
        >>> NTKStudySettings(tasks=("12bit",), sizes={"12bit": (64, 128)}, num_test=256, num_times=8)
    """

    tasks: tuple = TASKS
    sizes: dict = dataclasses.field(default_factory=lambda: {"12bit": (128, 256, 512, 1024, 2048),
                                                             "mnist": (125, 250, 500, 1000, 2000)})
    num_test: int = 1024
    t_min: float = 0.1
    t_max: float = 1e5
    num_times: int = 19
    depth: int = 3
    activation: str = "relu"
    w_std: float = 2.0**0.5
    b_std: float = 0.1
    learning_rate: float = 1.0
    diag_reg: float = 0.0
    noise_variance: float = 0.01
    num_draws: int = 2
    seed: int = 0

    def __post_init__(self):
        unknown = [t for t in self.tasks if t not in TASKS]
        if not self.tasks or unknown:
            raise ValueError(f"tasks must be a non-empty choice of {TASKS}; got {list(self.tasks)}.")
        object.__setattr__(self, "tasks", tuple(self.tasks))
        sizes = {}
        for task in self.tasks:
            values = [checks.positive_int(f"sizes of {task}", n) for n in self.sizes.get(task, ())]
            if not values or values != sorted(set(values)) or values[0] < 4:
                raise ValueError(f"sizes of {task} must be increasing integers >= 4; got {values}.")
            sizes[task] = tuple(values)
        object.__setattr__(self, "sizes", sizes)
        if checks.positive_int("num_test", self.num_test) < 4:
            raise ValueError(f"num_test must be at least 4; got {self.num_test}.")
        t_min = checks.finite_float("t_min", self.t_min, low=0.0, low_open=True)
        checks.finite_float("t_max", self.t_max, low=t_min, low_open=True)
        if checks.positive_int("num_times", self.num_times) < 2:
            raise ValueError(f"num_times must be at least 2; got {self.num_times}.")
        checks.non_negative_int("depth", self.depth)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {self.activation!r}.")
        checks.finite_float("w_std", self.w_std, low=0.0, low_open=True)
        checks.finite_float("b_std", self.b_std, low=0.0)
        checks.finite_float("learning_rate", self.learning_rate, low=0.0, low_open=True)
        checks.finite_float("diag_reg", self.diag_reg, low=0.0)
        checks.finite_float("noise_variance", self.noise_variance, low=0.0, low_open=True)
        checks.positive_int("num_draws", self.num_draws)
        checks.non_negative_int("seed", self.seed)


def study_times(settings):
    """The ``num_times`` log-spaced times from ``t_min`` to ``t_max``, then ``inf``.

    Args:
        settings: an :class:`NTKStudySettings`.

    Returns:
        float64 ``[num_times + 1]``.

    Example:
        >>> study_times(NTKStudySettings(t_min=1.0, t_max=100.0, num_times=3))     # [1, 10, 100, inf]
    """
    return np.concatenate([np.geomspace(settings.t_min, settings.t_max, settings.num_times), [np.inf]])


def centred_one_hot(labels, num_classes):
    """Regression targets one-hot(y) - 1/k, [N, k] (each row sums to 0).

    Args:
        labels: integer labels ``[N]`` in ``[0, k)``.
        num_classes: k.

    Returns:
        float64 ``[N, k]``.

    Example:
        >>> centred_one_hot(np.array([1]), 2)     # [[-0.5, 0.5]]
    """
    return np.eye(num_classes)[labels] - 1.0 / num_classes


def task_curves(task, sizes, settings, progress=False):
    """Kernels once on the largest pool and the test set, then the curve of every nested training set.

    Args:
        task: a :class:`~vdualib.ntk.tasks.Task`; its pool must hold at least ``max(sizes)`` rows.
        sizes: increasing training-set sizes; size n trains on the first n rows of the pool.
        settings: :class:`NTKStudySettings` (the network, times, noise and draws).
        progress: show a progress bar.

    Returns:
        ``{"split", "input_dimension", "num_classes", "num_test", "sizes", "kernel_seconds",
        "curves": {str(n): information_curve(...) plus "seconds"}}``, information in bits.

    Raises:
        ValueError: a size larger than the task's pool, or the errors of the kernels and bounds.

    Example:
        >>> settings = NTKStudySettings(tasks=("12bit",), sizes={"12bit": (64, 128)}, num_test=256)
        >>> task_curves(load_task("12bit", 256, 128, seed=0), [64, 128], settings)["curves"]["128"]["test"]
    """

    sizes = list(sizes)
    if max(sizes) > task.x_train.shape[0]:
        raise ValueError(f"the largest size {max(sizes)} exceeds the training pool of {task.x_train.shape[0]} rows.")
    hyper = dict(depth=settings.depth, activation=settings.activation, w_std=settings.w_std, b_std=settings.b_std)
    start = time.perf_counter()
    pool = task.x_train[: max(sizes)]
    k_pool, theta_pool = kernels(pool, None, **hyper)
    k_cross, theta_cross = kernels(task.x_test, pool, **hyper)
    k_test = kernels(task.x_test, None, **hyper)[0]
    kernel_seconds = time.perf_counter() - start
    num_classes = int(max(task.y_train.max(), task.y_test.max())) + 1
    times = study_times(settings)
    curves = {}
    for n in tqdm(sizes, desc="training-set sizes", disable=not progress):
        model = KernelEnsemble(
            k_pool[:n, :n], theta_pool[:n, :n], centred_one_hot(task.y_train[:n], num_classes),
            k_cross[:, :n], theta_cross[:, :n], k_test,
            learning_rate=settings.learning_rate, diag_reg=settings.diag_reg,
        )
        start = time.perf_counter()
        curve = information_curve(model, times, task.y_train[:n], task.y_test, noise_variance=settings.noise_variance,
                                  num_draws=settings.num_draws, seed=settings.seed)
        curve["seconds"] = time.perf_counter() - start
        curves[str(n)] = curve
    return {
        "split": task.split,
        "input_dimension": int(task.x_train.shape[1]),
        "num_classes": num_classes,
        "num_test": int(task.x_test.shape[0]),
        "sizes": sizes,
        "kernel_seconds": kernel_seconds,
        "curves": curves,
    }


def run_study(output_dir, settings=None, data_dir=None, progress=True):
    """Run every task of ``settings``, write ``{output_dir}/ntk_information.json`` and render it.

    Args:
        output_dir: the study folder (JSON, Markdown and PNGs).
        settings: an :class:`NTKStudySettings` (default: the published run's).
        data_dir: data folder (default ``$VDUALIB_DATA_DIR``).
        progress: show progress bars.

    Returns:
        The path of the JSON.

    Raises:
        ValueError: sizes larger than the data.
        FileNotFoundError: the data files are missing.

    Example:
        >>> run_study("out/ntk", NTKStudySettings(tasks=("12bit",), sizes={"12bit": (64, 128)}, num_test=256))
    """
    settings = settings or NTKStudySettings()
    datasets = {}
    for name in settings.tasks:
        task = load_task(name, settings.num_test, max(settings.sizes[name]), settings.seed, data_dir)
        datasets[name] = task_curves(task, settings.sizes[name], settings, progress=progress)
    record = dataclasses.asdict(settings)
    data = {"settings": record, "datasets": datasets, "provenance": provenance(command="python -m scripts.ntk_information")}
    json_path = os.path.join(output_dir, JSON_NAME)
    write_json(json_path, data)
    render(output_dir)
    return json_path


def markdown(data):
    """A table per task from the study's JSON: at t = inf and at the time of best test accuracy, for every size.

    Args:
        data: the study's JSON (``settings`` and ``datasets``).

    Returns:
        Markdown text (information in bits).

    Example:
        >>> print(markdown(read_json("out/ntk/ntk_information.json")))
    """
    rows = []
    for name, task in data["datasets"].items():
        for n in task["sizes"]:
            curve = task["curves"][str(n)]
            best = int(np.argmax(curve["test"]["accuracy"]))
            for label, index in (("best test accuracy", best), ("inf", len(curve["t"]) - 1)):
                test, train = curve["test"], curve["train"]
                rows.append({
                    "data": name, "n": n, "time": label, "t": float(curve["t"][index]),
                    "I(X;Z) test": f"{test['ixz_lower'][index]:.2f}-{test['ixz_upper'][index]:.2f}",
                    "I(Z;Y) test": f"{test['izy_lower'][index]:.2f}-{test['izy_upper'][index]:.2f}",
                    "I(X;Z) train": f"{train['ixz_lower'][index]:.2f}-{train['ixz_upper'][index]:.2f}",
                    "KL to prior": curve["prior_kl"][index],
                    "test accuracy": test["accuracy"][index],
                })
    settings = data["settings"]
    header = (
        f"Infinite NTK ensembles ({_ACTIVATION_NAMES[settings.get('activation', 'relu')]}, depth {settings['depth']}, noise variance {settings['noise_variance']}); "
        "information in bits (lower-upper bound), t = training time.\n\n"
    )
    return header + markdown_table(rows, digits=3)


def render(output_dir):
    """Draw ``{task}_time.png`` and ``{task}_size.png`` and write ``ntk_information.md`` from the JSON.

    Returns:
        the list of files written.

    Args:
        output_dir: the study folder holding ``ntk_information.json``.

    Example:
        >>> render("out/ntk")     # ['out/ntk/12bit_time.png', ..., 'out/ntk/ntk_information.md']
    """

    data = read_json(os.path.join(output_dir, JSON_NAME))
    written = []
    for name, task in data["datasets"].items():
        written.append(save_figure(plot_time_curves(name, task), os.path.join(output_dir, f"{name}_time.png"), dpi=90))
        written.append(save_figure(plot_size_curves(name, task), os.path.join(output_dir, f"{name}_size.png"), dpi=90))
    written.append(os.path.join(output_dir, "ntk_information.md"))
    write_text(written[-1], markdown(data))
    return written
