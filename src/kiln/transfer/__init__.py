"""Moving a workspace: ``kiln workspace export`` and ``kiln workspace import``.

Both are done by the workspace server, and the client is their transport:

- **Export** — the operation ``workspace.export`` (``kiln.api.workspace``) streams a tar that the server writes from
  its own records, its artifact store and its MLflow (read through MLflow's client on
  loopback). Only the server sees all of it: kiln's rows (not just their REST views), code
  snapshots and uploaded inputs (no REST route hands those out), and MLflow. It only reads,
  so it runs beside jobs and users. The client gzips the stream into the file.
- **Import** — the operation ``workspace.import`` receives the archive over HTTP (no shared
  file system), checks every member against its checksum, plans (what is new, what is
  there already, what conflicts) and refuses conflicts before writing anything; then it
  recreates the content through the target's own services, whatever its storage is
  (SQLite or PostgreSQL, a local folder or S3).

The one thing MLflow's REST API cannot do is create a run (or an MLflow 3 logged model)
with a given id, and a kiln job's name *is* its run id: ``mlflow_ids`` writes those rows
with MLflow's own SQL models into the server's MLflow store; everything else in MLflow goes
through its public client.
"""
