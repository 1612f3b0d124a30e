"""Where job processes run: local compute (process groups on this machine, through the job shim, with
PyTorch ranks, GPUs handed out and read-only mounts) and Ray clusters (reached through their dashboard:
the Jobs API for jobs, with ``ray_entry`` as the driver on the cluster and its log copied back)."""
