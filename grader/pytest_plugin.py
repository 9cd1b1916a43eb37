"""pytest plugin (auto-loaded through the ``pytest11`` entry point): one marker per exercise id and the
``--exercise-file`` option used by ``grader.learner_checks``."""

from grader.exercises import EXERCISES


def pytest_addoption(parser):
    parser.addoption("--exercise-file", default=None,
                     help="grade this .py/.ipynb instead of exercises/<id>.py (use with -m <id>)")


def pytest_configure(config):
    for e in EXERCISES:
        config.addinivalue_line("markers", f"{e.id}: checks of the {e.title} exercise")
