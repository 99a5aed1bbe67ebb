"""Stage scripts: `python -m stages.<name>`, one per stage in dvc.yaml.

Importing this package asks Linux to stop the process with its parent, before the slow
imports of the stage itself: a `dvc repro` killed while a stage starts up leaves no orphan.
`runner.stage_args` does the rest of the process setup (`pixelated.core.process`).
"""

from pixelated.core.process import die_with_parent

die_with_parent()
