"""SQLAlchemy 2 tables. Change them only together with a new Alembic revision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, comment="= the MLflow run id")
    name: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    experiment_name: Mapped[str] = mapped_column(String(255))
    experiment_id: Mapped[str] = mapped_column(String(64))
    compute: Mapped[str] = mapped_column(String(255), default="local")
    status: Mapped[str] = mapped_column(String(32), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    preparing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exit_code: Mapped[int | None] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    pid_started: Mapped[float | None] = mapped_column(Float, comment="process create time, to tell a reused pid")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    pinned_inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, comment="exact input versions")
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, comment="pinned, then as built")
    gpu_ids: Mapped[list[str]] = mapped_column(JSON, default=list, comment="GPUs handed to the job (held while active)")
    submission_id: Mapped[str | None] = mapped_column(
        String(128), comment="its id on a Ray cluster (Ray Jobs API submission id); None on local compute"
    )
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who created it")
    server_id: Mapped[str | None] = mapped_column(String(64), index=True, comment="the server that claimed the job")
    isolation: Mapped[str | None] = mapped_column(
        String(512), comment="how its processes were isolated (local compute): sandboxed (…) or not isolated: why"
    )


class DataAssetRow(Base):
    """One immutable version of a data asset; its content lives in the artifact store under ``store_key``."""

    __tablename__ = "data_assets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_data_assets_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, comment="creation order")
    name: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64), comment="sha256 tree hash of the content")
    store_key: Mapped[str] = mapped_column(String(512))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    files: Mapped[int] = mapped_column(Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    archived: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who created it")
    remote_path: Mapped[str | None] = mapped_column(
        String(2048), default=None, comment="a reference to remote data (not copied): the path it names"
    )
    privacy: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, default=None, comment="a private version: {epsilon, delta, metadata} (kiln.privacy)"
    )


class EnvironmentRow(Base):
    """One registered environment version. Immutable once built: a new spec needs a new version."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_environments_name_version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    image: Mapped[str | None] = mapped_column(String(1024))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the spec as sent, files inline")
    hash: Mapped[str] = mapped_column(String(64), index=True, comment="names the venv in the cache")
    python: Mapped[str] = mapped_column(String(32))
    requirements: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))
    lock: Mapped[list[str]] = mapped_column(JSON, default=list, comment="uv pip freeze of the built venv")
    build_log: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who created it")


class OnlineEndpointRow(Base):
    """An online endpoint's desired state; its keys are kept as hashes plus the salts they derive from."""

    __tablename__ = "online_endpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, comment="OnlineEndpointSpec, traffic included")
    primary_key_salt: Mapped[str] = mapped_column(String(64))
    primary_key_hash: Mapped[str] = mapped_column(String(64))
    secondary_key_salt: Mapped[str] = mapped_column(String(64))
    secondary_key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who created it")


class OnlineDeploymentRow(Base):
    """A deployment's desired state (spec + pinned model) and its observed state."""

    __tablename__ = "online_deployments"
    __table_args__ = (UniqueConstraint("endpoint", "name", name="uq_online_deployments_endpoint_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, comment="OnlineDeploymentSpec, uploads resolved")
    model: Mapped[dict[str, Any]] = mapped_column(JSON, comment="pinned: registered name+version, or an upload")
    generation: Mapped[int] = mapped_column(Integer, default=1, comment="grows with each update")
    state: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    take_all_traffic: Mapped[bool] = mapped_column(default=False, comment="set traffic to 100 % once ready")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who created it")


class OnlineReplicaRow(Base):
    """A replica process the controller started, so that a restarted server can re-adopt it."""

    __tablename__ = "online_replicas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(64), index=True)
    deployment: Mapped[str] = mapped_column(String(64))
    replica_index: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer)
    port: Mapped[int] = mapped_column(Integer)
    pid: Mapped[int] = mapped_column(Integer)
    pid_started: Mapped[float] = mapped_column(Float, comment="process create time, to tell a reused pid")
    log_path: Mapped[str] = mapped_column(String(1024))
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UserRow(Base):
    """A person (or program) with a role; acts through API tokens."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), comment="reader, contributor or owner")
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiTokenRow(Base):
    """An API token of a user: only its SHA-256 is kept. Revoked tokens stay, so a refusal can say why."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="public id, for listing and revoking")
    user_name: Mapped[str] = mapped_column(String(128), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="sha256 hex of the token")
    prefix: Mapped[str] = mapped_column(String(16), comment="the token's first characters")
    description: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64), index=True, comment="set for a job's own token")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BrowserSessionRow(Base):
    """A browser's sign-in (``kind`` "session") or a one-time sign-in code (``kind`` "code", from ``kiln ui``).
    Only the secret's SHA-256 is kept; ``token_id`` is the API token it acts for (None: the workspace token),
    so revoking that token ends its sessions too."""

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="public id (the cookie's first part)")
    kind: Mapped[str] = mapped_column(String(16), comment="session or code")
    secret_hash: Mapped[str] = mapped_column(String(64), comment="sha256 hex of the secret")
    token_id: Mapped[str | None] = mapped_column(String(32), index=True, comment="None: the workspace token")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ComputeRow(Base):
    """A registered compute target (a Ray cluster, or a named local compute); ``local`` is built in and has no row."""

    __tablename__ = "computes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(1024), comment="the Ray dashboard (Jobs API) URL")
    token_file: Mapped[str | None] = mapped_column(
        Text, comment="a Ray cluster: the file on the server's machine its token is read from (never the token)"
    )
    max_concurrent_jobs: Mapped[int | None] = mapped_column(
        Integer, comment="a named local compute: jobs it runs at once (None: the workspace's local_concurrency)"
    )
    gpus: Mapped[list[str] | None] = mapped_column(
        JSON, comment="a named local compute: the GPU ids its jobs may use (None: all of this machine's)"
    )
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who registered it")


class DatastoreRow(Base):
    """A registered datastore: where remote data lives; its credential is stored encrypted (never answered)."""

    __tablename__ = "datastores"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    location: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, comment="account, container, bucket, path, url…"
    )
    credential_kind: Mapped[str | None] = mapped_column(String(32), comment="None: anonymous access")
    credential: Mapped[str | None] = mapped_column(Text, comment="the credential's fields, encrypted (Fernet)")
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who registered it")


class PrivacyBudgetRow(Base):
    """The privacy budget of one private data version: its totals and what the ledger has charged so far."""

    __tablename__ = "privacy_budgets"

    data_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    data_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    spent_epsilon: Mapped[float] = mapped_column(Float, default=0.0)
    spent_delta: Mapped[float] = mapped_column(Float, default=0.0)


class PrivacyChargeRow(Base):
    """One charge of the privacy ledger: who spent how much of a version's budget, when, on what."""

    __tablename__ = "privacy_charges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, comment="charge order")
    data_name: Mapped[str] = mapped_column(String(255), index=True)
    data_version: Mapped[str] = mapped_column(String(64))
    charged_by: Mapped[str] = mapped_column(String(128))
    charged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(32), comment="query, synthesis or job")
    what: Mapped[str] = mapped_column(Text, comment="the query's text, the synthesizer and its settings, the job")
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)


class AuditEntryRow(Base):
    """One change to the workspace (kiln.server.audit): appended once, never updated nor deleted by kiln."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, comment="the order of changes")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user: Mapped[str] = mapped_column(String(128), index=True, comment="who: the user the request acted as")
    via: Mapped[str] = mapped_column(String(128), comment="their credential: a token's id, a job, the studio")
    action: Mapped[str] = mapped_column(String(64), comment="the REST operation, e.g. models.set_alias")
    kind: Mapped[str] = mapped_column(String(64), index=True, comment="the resource kind: model, job, endpoint…")
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    version: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, comment="what else: never a secret")
    client: Mapped[str | None] = mapped_column(String(64), comment="the client's address")
    user_agent: Mapped[str | None] = mapped_column(String(255))


class ComponentRow(Base):
    """One immutable version of a command component (kiln.pipelines): its spec, its code pinned by hash."""

    __tablename__ = "components"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_components_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, comment="creation order")
    name: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the component as created, code as upload:<hash>")
    code_hash: Mapped[str | None] = mapped_column(String(64), comment="its code snapshot's content hash")
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who created it")


class BatchEndpointRow(Base):
    """A batch endpoint (kiln.batch): its spec, the default deployment included."""

    __tablename__ = "batch_endpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, comment="BatchEndpointSpec")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who created it")


class BatchDeploymentRow(Base):
    """A batch deployment (kiln.batch): its spec, uploads resolved; an invocation runs it as a batch_scoring job."""

    __tablename__ = "batch_deployments"
    __table_args__ = (UniqueConstraint("endpoint", "name", name="uq_batch_deployments_endpoint_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, comment="BatchDeploymentSpec, uploads resolved")
    model_type: Mapped[str] = mapped_column(String(32), comment="mlflow_model or custom_model")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), comment="the user who created it")
