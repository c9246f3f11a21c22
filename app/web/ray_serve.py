"""The same app on Ray Serve (the `ray` extra): replicas each holding their own session cache,
autoscaling, Serve's own backpressure mapped onto the app's limits, and every Ray process on
127.0.0.1 when Ray is started here."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from app.config import Settings

# Ray's own defaults bind the machine's address, phone home and start a dashboard: not here
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
                "RAY_SERVE_ENABLE_TASK_EVENTS": "0", "RAY_DEDUP_LOGS": "0", "RAY_AUTH_MODE": "disabled"}
for _k, _v in LOOPBACK_ENV.items():  # Ray reads these when it is imported: set them before that
    os.environ.setdefault(_k, _v)


def start_local_ray(num_cpus: float | None = None) -> Path:
    """A single-node Ray on 127.0.0.1 with no dashboard, its files in a temp dir of its own
    (short: Ray's unix sockets live there and their paths must stay under 107 bytes)."""
    import ray

    os.environ.update(LOOPBACK_ENV)
    temp = Path(tempfile.mkdtemp(prefix="csr-", dir="/tmp"))
    ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, _temp_dir=str(temp),
             _node_ip_address="127.0.0.1", log_to_driver=False, logging_level="warning")
    return temp


def _keep_replica_grpc_on_loopback() -> None:
    """Ray Serve (2.60) binds each replica's inter-deployment gRPC server to [::]:0, every
    interface, with no setting to change it. convscope has a single deployment, so on a
    single-node Ray started here that server is bound to 127.0.0.1 instead. Multi-node
    clusters (--address) keep Ray's behaviour."""
    try:
        from ray.serve._private import replica
    except ImportError:
        return
    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "_convscope_loopback", False):
        return

    def loopback(server: Any, address: str) -> int:
        return original(server, address.replace("[::]", "127.0.0.1"))

    loopback._convscope_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = loopback


def _build_app() -> Any:
    """Runs on each replica: the same FastAPI app, named after the replica that serves it."""
    from ray import serve

    if os.environ.get("CONVSCOPE_RAY_LOOPBACK") == "1":
        _keep_replica_grpc_on_loopback()

    from app.web.app import create_app

    app = create_app(Settings.from_env())
    ctx = serve.get_replica_context()
    app.state.replica = f"{ctx.deployment}#{ctx.replica_id.unique_id}"
    return app


def application(settings: Settings, replicas: int | None = 1, autoscale: tuple[int, int] | None = None,
                cpus_per_replica: float = 0.5, loopback: bool = True) -> Any:
    """The Serve application: Serve's admission mapped onto the app's own limits, so a replica
    holds at most max_concurrent + max_queue requests and Serve queues at most max_queue more
    per replica before answering 503 itself."""
    from ray import serve

    per_replica = settings.max_concurrent + settings.max_queue
    scaling: dict[str, Any] = {} if replicas is None else {"num_replicas": replicas}
    if autoscale:
        lo, hi = autoscale
        scaling = {"autoscaling_config": {"min_replicas": lo, "max_replicas": hi,
                                          "target_ongoing_requests": settings.max_concurrent}}

    @serve.ingress(_build_app)
    class Convscope:
        pass

    env = {k: v for k, v in os.environ.items() if k.startswith("CONVSCOPE_")}
    env["CONVSCOPE_MODELS_DIR"] = str(settings.models_dir.resolve())
    env["CONVSCOPE_RAY_LOOPBACK"] = "1" if loopback else "0"
    deployment = serve.deployment(
        Convscope, name="convscope", max_ongoing_requests=per_replica,
        max_queued_requests=settings.max_queue * max(replicas or 1, autoscale[1] if autoscale else 1),
        ray_actor_options={"num_cpus": cpus_per_replica, "runtime_env": {"env_vars": env}},
        health_check_period_s=5, **scaling)
    return deployment.bind()


def serve_forever(settings: Settings, host: str, port: int, replicas: int, autoscale: tuple[int, int] | None,
                  address: str | None) -> int:
    """`convscope serve --ray`: start (or join) Ray, deploy, wait for SIGTERM/SIGINT, shut down clean."""
    import ray
    from ray import serve

    os.environ.update(LOOPBACK_ENV)
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    temp = None
    if address:
        ray.init(address=address, log_to_driver=False, logging_level="warning")
    else:
        temp = start_local_ray()
    signal.signal(signal.SIGTERM, _stop)  # after ray.init, which installs handlers of its own
    signal.signal(signal.SIGINT, _stop)
    try:
        serve.start(http_options={"host": host, "port": port, "access_log": False})
        serve.run(application(settings, replicas, autoscale, loopback=address is None), name="convscope",
                  route_prefix="/")
        scale = f"autoscaling {autoscale[0]}-{autoscale[1]}" if autoscale else f"{replicas} replicas"
        print(f"convscope on Ray Serve at http://{host}:{port} ({scale})", flush=True)
        while not stop["now"]:
            time.sleep(0.2)
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
            if temp:
                shutil.rmtree(temp, ignore_errors=True)
    return 0


def cluster_app(args: dict[str, str] | None = None) -> Any:
    """Import path for `serve run` / `serve deploy` / KubeRay (deploy/): replica counts come from
    the config file; settings from CONVSCOPE_* variables in its runtime_env."""
    return application(Settings.from_env(), replicas=None, loopback=False)
