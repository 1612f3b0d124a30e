"""TensorBoard over jobs, on the user's machine: ``kiln tensorboard JOB [JOB…]`` (the ``tensorboard`` extra).

- ``cli``: the command; ``job_folder``: a job's ``./logs`` and MLflow metrics fetched into a local
  folder, and kept up to date while it runs; ``export``: MLflow metric histories as event files;
  ``server``: TensorBoard as a child process of the CLI.

Inside a job, the log folder and a scalar writer are ``kiln.integrations.tensorboard`` (core: every
job gets a TensorBoard folder, kept as its output ``logs``).
"""

from kiln.capabilities import Capability, CliCommand

CAPABILITY = Capability(
    name="tensorboard",
    summary="jobs' ./logs and MLflow metrics side by side in TensorBoard",
    extra="tensorboard",
    commands=(
        CliCommand(
            "tensorboard",
            "kiln.tensorboard.cli:tensorboard_command",
            "Show jobs in TensorBoard: their ./logs and their MLflow metrics, until Ctrl+C.",
            checks_extra_itself=True,  # --export-only writes event files without TensorBoard
        ),
    ),
)
