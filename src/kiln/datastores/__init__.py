"""Datastores and remote data: where data lives outside the workspace, and reading it.

- ``secrets``: datastore credentials sealed with a key kept in the workspace's home (0600);
- ``guards``: what remote data may reach (no loopback, private or link-local address unless the
  operator allows that HOST:PORT; ``local`` datastores only inside folders the operator shares, never
  the workspace's home);
- ``stores``: a datastore as a file system (fsspec: ``adlfs``, ``s3fs``, ``gcsfs``, a local folder;
  httpx for ``https``);
- ``service``: create, list, show, delete; find the datastore a remote path names;
- ``remote``: read remote paths into a job's folder or the content-addressed cache, with their hash;
- ``inputs``: the job-input resolver for remote paths (``https://``, ``s3://``, ``wasbs://``,
  ``abfss://``, ``gs://``, ``azureml://datastores/NAME/paths/…``).
"""
