"""The README's generated blocks match the committed result files they are rendered from."""

from vdualib.scripts import update_readme


def test_readme_blocks_are_current(capsys):
    assert update_readme.main(["--check"]) == 0, capsys.readouterr().out


def test_readme_names_the_ci_test_command():
    with open(update_readme.os.path.join(update_readme.ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(update_readme.os.path.join(update_readme.ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    command = 'pip install -e ".[test]" && python -m pytest -q'
    assert command in readme and command in ci
