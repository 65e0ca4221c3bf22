"""pydoit entry point of ``make paper`` (the steps are in nrm/build/pipeline.py).

    .venv/bin/doit -f dodo.py scale=smoke out=/tmp/build      # what make paper runs
    .venv/bin/doit -f dodo.py list --all --status scale=smoke out=/tmp/build
    .venv/bin/doit -f dodo.py info render:paper scale=smoke out=/tmp/build
"""

from doit import get_var

from nrm.build.pipeline import Build, tasks

BUILD = Build.from_vars(get_var("scale", "default"), get_var("out", "."), get_var("seed", ""),
                        get_var("study", "1"))
DOIT_CONFIG = BUILD.doit_config()


def task_paper():
    """every step of the paper (run:*, study:*, analysis:*, render:paper)"""
    yield from tasks(BUILD)
