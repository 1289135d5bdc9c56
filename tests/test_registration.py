"""Registration: once Keras is imported, Keras knows every class vdualib saves."""

import sys

from vdualib import registration


def test_register_imports_the_serializable_modules_and_keras_knows_their_classes():
    import keras

    registration.register()
    assert all(name in sys.modules for name in registration.SERIALIZABLE_MODULES)
    known = {name for name in keras.saving.get_custom_objects() if name.startswith("vdualib>")}
    for name in ("IBClassifier", "GaussianEncoder", "ClassConditionalPrior", "DualIBLoss", "TeacherNoise", "ExpectedCalibrationError"):
        assert f"vdualib>{name}" in known, name
    assert keras.saving.get_registered_object("vdualib>IBClassifier").__module__ == "vdualib.models"


def test_with_keras_imported_no_import_hook_is_left_behind(monkeypatch):
    import keras  # noqa: F401

    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    registration.register_when_keras_loads()
    assert not any(isinstance(finder, registration._KerasImportHook) for finder in sys.meta_path)
