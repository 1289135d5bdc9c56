"""Registering the library's serializable classes with Keras as soon as Keras is imported.

``keras.saving.load_model`` rebuilds a custom class only if it is registered, which happens when
the module defining it is imported. Importing those modules imports Keras and its backend, which
the numpy-only parts (:mod:`vdualib.ib`, :mod:`vdualib.ntk`, the estimators of
:mod:`vdualib.information`) do not need. So ``import vdualib`` calls :func:`register_when_keras_loads`:
if Keras is already imported the classes are registered at once; otherwise a one-shot import hook
registers them right after the first ``import keras`` (of any module, the user's included)
finishes. Either way, by the time a program can call ``keras.saving.load_model``, every class
that vdualib saves is known to Keras.

When the first ``import keras`` comes from one of :data:`SERIALIZABLE_MODULES` itself (``import
vdualib.metrics`` before anything else), the others cannot be imported yet (they import that
half-initialised module), so the hook leaves the registration to the end of that module, which
calls :func:`register` as its last line.

Written here because Python has no post-import hook of its own (PEP 369 was withdrawn); the hook
is a ``sys.meta_path`` finder that wraps Keras' own loader and removes itself on first use.

Example:
    >>> import vdualib                      # Keras not imported yet: nothing heavy happens
    >>> import keras                        # the vdualib classes are registered now
    >>> model = keras.saving.load_model(vdualib.zoo.path("mnist-dualib-mlp"))
    >>> type(model).__name__
    'IBClassifier'
"""

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["SERIALIZABLE_MODULES", "register", "register_when_keras_loads"]

#: the modules whose import registers vdualib's serializable classes (layers, priors, losses,
#: label noise, the classifier, the metric, the callbacks)
SERIALIZABLE_MODULES = ("vdualib.layers", "vdualib.losses", "vdualib.metrics", "vdualib.models", "vdualib.callbacks")


def _initializing():
    """Whether one of :data:`SERIALIZABLE_MODULES` is being imported right now."""
    return any(getattr(getattr(sys.modules.get(name), "__spec__", None), "_initializing", False) for name in SERIALIZABLE_MODULES)


def register():
    """Import every module of :data:`SERIALIZABLE_MODULES` (which registers their classes).

    Each of those modules calls it as its last line, when all its own names exist, so the
    others can import them.

    Example:
        >>> register()
        >>> keras.saving.get_registered_object("vdualib>IBClassifier").__name__
        'IBClassifier'
    """
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


class _AfterImport(importlib.abc.Loader):
    """Runs the wrapped loader, then :func:`register`."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        if not _initializing():  # else the module being imported registers at its end
            register()


class _KerasImportHook(importlib.abc.MetaPathFinder):
    """Hands the first import of ``keras`` to :class:`_AfterImport`, then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _AfterImport(spec.loader)
        return spec


def register_when_keras_loads():
    """Register now if Keras is imported, else right after Keras is first imported.

    Example:
        >>> register_when_keras_loads()     # at ``import vdualib``
    """
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(finder, _KerasImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasImportHook())
