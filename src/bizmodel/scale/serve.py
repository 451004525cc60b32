"""``bizmodel serve --backend ray``: the HTTP app as a Ray Serve deployment that scales with load.

Every model replica is a Ray actor running the same app as ``bizmodel serve``
(:func:`bizmodel.server.app.create_app`), built on the replica from the caller's settings:
its own model pool and micro-batcher per served version (requests that reach one replica
together share its forward passes), its own connection pool to the one configured store.
Its autoscaler keeps about ``target_ongoing_requests`` requests in flight per replica, between
``min_replicas`` and ``max_replicas`` (see :class:`ReplicaScaling`).

In front of them, a thin ingress deployment (:class:`BizmodelIngress`, two replicas per node,
no model, no CPU reserved) receives each request from Serve's HTTP proxy and hands it whole to
a model replica through a deployment handle. When that replica dies with the request in flight
(Ray raises ``ActorDiedError``; Serve's proxy alone would answer a plain-text 500), the ingress
sends an idempotent request again to another replica, giving events without a
``client_event_id`` one first, and otherwise answers the house JSON 503 with ``Retry-After``
(:mod:`bizmodel.scale.ingress`).

The store. A write is acknowledged only after its transaction committed, and events carry a
``client_event_id``, so a client that retries after a replica died stores each event exactly
once. PostgreSQL serves any number of machines. SQLite is one file behind a file lock: safe for
replicas on one machine (WAL mode, a 30 s busy timeout; writers queue), but a replica on another
machine would write its own file, so :func:`deploy` refuses SQLite on a cluster of more than one
node. The registry folder must be readable at the same path on every node.

Each response names the replica that answered in the ``X-Bizmodel-Replica`` header (Ray
Serve's opaque replica id), so load spread and failures can be traced to a replica.

Examples
--------
>>> ReplicaScaling(min_replicas=1, max_replicas=4).to_ray()["autoscaling_config"]
{'min_replicas': 1, 'max_replicas': 4, 'target_ongoing_requests': 16.0}
>>> ReplicaScaling.fixed(2).summary()
'2 replicas, 1 CPU each'
>>> ReplicaScaling(min_replicas=3, max_replicas=2)
Traceback (most recent call last):
...
bizmodel.errors.ConfigError: --min-replicas 3 is more than --max-replicas 2
>>> check_store("sqlite:////srv/bizmodel.db", nodes=2)
Traceback (most recent call last):
...
bizmodel.errors.ConfigError: database_url is SQLite ... the Ray cluster has 2 nodes: ...
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.scale.ingress import HttpRequest, HttpResponse, RetryingIngress, call_asgi

#: Ray Serve application and deployment name.
APP_NAME = "bizmodel"
#: Ray Serve deployment name of the HTTP entry in front of the model replicas.
INGRESS_NAME = "bizmodel-ingress"
#: Response header naming the replica that answered.
REPLICA_HEADER = "X-Bizmodel-Replica"
#: Tries of a retryable request whose replica died (first one included).
INGRESS_ATTEMPTS = 3
#: Requests one ingress replica holds at once (it only waits on model replicas).
INGRESS_MAX_ONGOING = 2048
#: Ingress replicas per node: when one dies, Serve's proxy sends new requests to the other
#: while the controller starts its replacement (a client retries the dead one's requests in
#: flight, which Serve's proxy answers 500: :mod:`bizmodel.client`).
INGRESS_PER_NODE = 2


@dataclass(frozen=True)
class ReplicaScaling:
    """How many replicas, and how much of a machine each one reserves."""

    min_replicas: int = 1  # never fewer, even idle
    max_replicas: int = 4  # never more, whatever the load
    target_ongoing_requests: float = 16.0  # requests in flight per replica the autoscaler aims at
    num_cpus: float = 1.0  # CPUs Ray reserves per replica (also its inference threads)

    def __post_init__(self) -> None:
        if self.min_replicas < 1:
            raise ConfigError(f"--min-replicas must be at least 1, got {self.min_replicas}")
        if self.max_replicas < self.min_replicas:
            raise ConfigError(
                f"--min-replicas {self.min_replicas} is more than --max-replicas "
                f"{self.max_replicas}"
            )
        if self.target_ongoing_requests <= 0:
            raise ConfigError(
                f"--target-ongoing-requests must be positive, got {self.target_ongoing_requests}"
            )
        if self.num_cpus <= 0:
            raise ConfigError(f"--replica-cpus must be positive, got {self.num_cpus}")

    @classmethod
    def fixed(cls, replicas: int, num_cpus: float = 1.0) -> ReplicaScaling:
        """Exactly ``replicas`` replicas (min = max)."""
        return cls(min_replicas=replicas, max_replicas=replicas, num_cpus=num_cpus)

    def to_ray(self) -> dict[str, Any]:
        """Keyword arguments of ``serve.deployment``."""
        return {
            "autoscaling_config": {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": float(self.target_ongoing_requests),
            },
            # Room above the target, so a replica's micro-batcher can fill its batches.
            "max_ongoing_requests": max(32, int(2 * self.target_ongoing_requests)),
            "ray_actor_options": {"num_cpus": self.num_cpus},
        }

    def summary(self) -> str:
        cpus = f"{self.num_cpus:g} CPU{'' if self.num_cpus == 1 else 's'} each"
        if self.min_replicas == self.max_replicas:
            return f"{self.min_replicas} replicas, {cpus}"
        return (
            f"{self.min_replicas}..{self.max_replicas} replicas "
            f"(~{self.target_ongoing_requests:g} requests in flight each), {cpus}"
        )


@dataclass(frozen=True)
class RayServeDeployment:
    """What :func:`deploy` started."""

    url: str  # where Ray Serve's HTTP proxy answers
    app_name: str
    scaling: ReplicaScaling
    nodes: int  # alive nodes of the Ray cluster
    database: str  # the store's dialect: "sqlite" or "postgresql"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scaling": asdict(self.scaling)}

    def summary(self) -> str:
        return (
            f"Ray Serve app {self.app_name!r} on {self.url}: {self.scaling.summary()}, "
            f"on a {self.nodes}-node cluster, store {self.database}"
        )


def check_store(database_url: str, *, nodes: int) -> None:
    """Refuse a SQLite store when the replicas may run on more than one machine.

    Parameters
    ----------
    database_url : str
        The store's SQLAlchemy URL.
    nodes : int
        Alive nodes of the Ray cluster.
    """
    if database_url.startswith("sqlite") and nodes > 1:
        raise ConfigError(
            f"database_url is SQLite (one file on one machine) but the Ray cluster has {nodes} "
            "nodes: set database_url to PostgreSQL (postgresql+psycopg://USER:PASSWORD@HOST/DB)"
        )


class BizmodelReplica:
    """One model replica: runs ``create_app`` of the settings it was deployed with.

    The app's lifespan (store, registry, model pool) starts in the constructor and stops when
    Serve stops the replica. The ingress sends it whole requests (:meth:`forward`); each answer
    names the replica in :data:`REPLICA_HEADER`.
    """

    async def __init__(self, settings_json: str) -> None:  # type: ignore[misc]  # Serve awaits it
        from ray import serve

        from bizmodel.server.app import create_app

        self.app = create_app(Settings.model_validate_json(settings_json))
        self.replica = serve.get_replica_context().replica_id.unique_id.encode()
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()

    async def forward(self, request: HttpRequest) -> HttpResponse:
        """Answer one whole request with the app."""
        response = await call_asgi(self.app, request)
        headers = (*response.headers, (REPLICA_HEADER.lower().encode(), self.replica))
        return HttpResponse(status=response.status, headers=headers, body=response.body)

    async def __del__(self) -> None:  # Serve awaits it when it stops the replica
        lifespan = getattr(self, "_lifespan", None)  # absent if the constructor failed
        if lifespan is not None:
            await lifespan.__aexit__(None, None, None)


class BizmodelDirectReplica:
    """A model replica that is itself the HTTP entry (no ingress): Serve's proxy answers a
    plain-text 500 when it dies with requests in flight. Kept to measure the ingress's cost
    (``deploy(..., ingress=False)``)."""

    def __init__(self, settings_json: str) -> None:
        self.settings_json = settings_json

    def __serve_build_asgi_app__(self) -> Any:
        from ray import serve

        from bizmodel.server.app import create_app

        app = create_app(Settings.model_validate_json(self.settings_json))
        replica = serve.get_replica_context().replica_id.unique_id

        @app.middleware("http")
        async def name_the_replica(request: Any, call_next: Any) -> Any:
            response = await call_next(request)
            response.headers[REPLICA_HEADER] = replica
            return response

        return app


class BizmodelIngress:
    """The HTTP entry: forwards each request to a model replica, retries if that one died.

    See :class:`bizmodel.scale.ingress.RetryingIngress` for what is retried. No model, no
    store: it reserves no CPU.
    """

    def __init__(self, model: Any, max_body_bytes: int) -> None:
        self.model = model  # a DeploymentHandle of the model deployment
        self.max_body_bytes = max_body_bytes

    def __serve_build_asgi_app__(self) -> Any:
        from ray.exceptions import RayActorError

        async def send_to_replica(request: HttpRequest) -> HttpResponse:
            response: HttpResponse = await self.model.forward.remote(request)
            return response

        # RayActorError covers ActorDiedError (killed, crashed, node lost) and
        # ActorUnavailableError (unreachable for now).
        return RetryingIngress(
            send_to_replica,
            lost=(RayActorError,),
            max_body_bytes=self.max_body_bytes,
            attempts=INGRESS_ATTEMPTS,
        )


def replica_settings(settings: Settings, scaling: ReplicaScaling) -> Settings:
    """``settings`` as a replica needs them: absolute paths (a replica's working directory is
    Ray's), inference threads = the CPUs it reserves unless ``server.num_threads`` is set, and
    per-key rate limits counted in the store unless ``server.rate_limit_scope`` says where."""
    project = settings.project_dir.resolve()
    server = settings.server
    if server.num_threads is None:
        server = server.model_copy(update={"num_threads": max(1, int(scaling.num_cpus))})
    if server.rate_limit_scope == "auto":  # replicas come and go: count keys' calls in the store
        server = server.model_copy(update={"rate_limit_scope": "store"})
    return settings.model_copy(
        update={
            "project_dir": project,
            "database_url": settings.resolved_database_url(),
            "registry_dir": settings.resolved_registry_dir().resolve(),
            "server": server,
        }
    )


def deploy(
    settings: Settings,
    scaling: ReplicaScaling | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    ingress: bool = True,
) -> RayServeDeployment:
    """Deploy the app on the Ray cluster this process is connected to; returns once it answers.

    Parameters
    ----------
    settings : Settings
        Database, registry, keys and server options, as for ``bizmodel serve``.
    scaling : ReplicaScaling, optional
        Replica counts and CPUs (default: 1..4 replicas of 1 CPU).
    host, port : optional
        Where Ray Serve's HTTP proxy listens (default ``settings.server.host`` / ``port``).
        Cluster-wide: a Serve instance already running on the cluster keeps its own.
    ingress : bool
        Put :class:`BizmodelIngress` (two replicas per node, no CPU reserved) in front of the
        model replicas, so a request whose replica dies is retried or answered with JSON 503
        (default). False: the model replicas are the HTTP entry, as before the ingress (only
        to measure what the ingress costs).

    Notes
    -----
    Needs a Ray session (:func:`bizmodel.scale.ray_session`). The store is migrated here,
    once, before any replica opens it.
    """
    from bizmodel.scale import require
    from bizmodel.store import EventStore

    ray = require("ray")
    serve = require("ray.serve")
    scaling = scaling or ReplicaScaling()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    settings = replica_settings(settings, scaling)
    url = settings.resolved_database_url()
    check_store(url, nodes=nodes)
    EventStore.open(url).close()  # migrate once, before the replicas start
    host = host or settings.server.host
    port = port or settings.server.port
    serve.start(http_options={"host": host, "port": port})
    settings_json = settings.model_dump_json()
    if ingress:
        model = serve.deployment(name=APP_NAME, **scaling.to_ray())(BizmodelReplica)
        entry = serve.deployment(
            name=INGRESS_NAME,
            num_replicas=INGRESS_PER_NODE * nodes,  # beside each node's HTTP proxy
            max_ongoing_requests=INGRESS_MAX_ONGOING,
            ray_actor_options={"num_cpus": 0},
        )(serve.ingress()(BizmodelIngress))
        app = entry.bind(model.bind(settings_json), settings.server.max_body_bytes)
    else:
        direct = serve.ingress()(BizmodelDirectReplica)
        app = serve.deployment(name=APP_NAME, **scaling.to_ray())(direct).bind(settings_json)
    serve.run(app, name=APP_NAME, route_prefix="/")
    return RayServeDeployment(
        url=f"http://{host}:{port}",
        app_name=APP_NAME,
        scaling=scaling,
        nodes=nodes,
        database=url.split(":", 1)[0].split("+", 1)[0],
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve_ray(
    settings: Settings,
    scaling: ReplicaScaling | None = None,
    *,
    address: str | None = None,
    host: str | None = None,
    port: int | None = None,
    on_ready: Any = None,
    ingress: bool = True,
) -> None:
    """Deploy on Ray (joining ``address``, or a local cluster) and serve until interrupted.

    On Ctrl-C or SIGTERM the app is deleted from the cluster; a local cluster is shut down
    with it.
    ``on_ready(deployment)`` is called once the replicas answer.
    """
    from bizmodel.scale import ray_session, require

    serve = require("ray.serve")
    # Serve's INFO lines ("Started Serve", "Application ... is ready") repeat what the
    # on_ready line says; warnings and errors still reach stderr.
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    with ray_session(address):
        if threading.current_thread() is threading.main_thread():
            # A service manager stops with SIGTERM: clean up as on Ctrl-C (no orphaned Ray
            # processes). Set after ray.init, whose own handler would end the process at once.
            signal.signal(signal.SIGTERM, _interrupt)
        deployment = deploy(settings, scaling, host=host, port=port, ingress=ingress)
        if on_ready is not None:
            on_ready(deployment)
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            serve.delete(APP_NAME)
            if not address:  # Serve ran on the local cluster this started: stop it with it
                serve.shutdown()
