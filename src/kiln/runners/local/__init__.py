"""Local compute: each job is a process group on this machine, started through the job shim.

Kept empty: ``python -m kiln.runners.local.job_shim`` imports this package first and must start fast.
"""
