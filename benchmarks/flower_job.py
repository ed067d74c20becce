"""The wall-time benchmark's federated job, run by Flower's own simulation (Flower 1.42).

Run by ``benchmarks.walltime`` in a child process (``python -m benchmarks.flower_job --job
JSON --out FILE``) so that Ray starts and stops with that process and nothing of it is left
behind in the caller. It can also be run by hand with the same arguments.

The job is the one the other two contenders run: same data set and split
(``fedchain.learning.load_dataset`` / ``partition``), same model (``build_model`` with the same
seed), same local recipe (``train_local``), and the same per-(round, client) shuffling seed as
``fedchain.learning.run_plain_fedavg``, so Flower's accuracies track plain FedAvg's (up to the
float rounding of Flower's aggregation). Flower's message API is used as 1.42 documents it:
``ClientApp`` + ``ServerApp`` + the message-based ``flwr.serverapp.strategy.FedAvg``
(sample-weighted by ``num-examples``), started with ``flwr.simulation.run_simulation`` on the
Ray backend. Client-side evaluation is off (``fraction_evaluate=0``); the server evaluates the
global model on the test split after every round, as the other two contenders do.

Timing: ``evaluate_fn`` is called by the strategy before round 1 and after every round, so the
difference of its timestamps is the time of the federated rounds alone; ``simulation_seconds``
is the whole ``run_simulation`` call (Ray start-up, actor pool, rounds, shut-down).
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

# Flower's telemetry posts events to its servers; a benchmark must not phone home (nor wait on
# a network that is not there). Set before flwr is imported, since it reads it at import time.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

import flwr  # noqa: E402
import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402

from fedchain.learning import (  # noqa: E402
    ModelSpec,
    TrainConfig,
    build_model,
    evaluate,
    load_dataset,
    partition,
    train_local,
)

IMPORT_SECONDS = time.perf_counter() - _T0  # torch, flwr, ray, fedchain.learning

_CACHE: dict[Any, Any] = {}


def client_seed(seed: int, round_index: int, client: int) -> int:
    """The same per-(round, client) shuffling seed as ``run_plain_fedavg`` uses."""
    return int(np.random.SeedSequence([seed, round_index, client]).generate_state(1)[0])


def setup(job: dict[str, Any]) -> tuple[Any, list[np.ndarray], ModelSpec, TrainConfig]:
    """Data set, partition, model spec and recipe of a job (cached per process)."""
    key = json.dumps(job, sort_keys=True)
    if key not in _CACHE:
        data = load_dataset(job["dataset"], seed=job["seed"])
        parts = partition(data.y_train, job["clients"], alpha=job["alpha"], seed=job["seed"])
        spec = ModelSpec.from_dict(job["model"])
        cfg = TrainConfig.from_dict(job["train"])
        _CACHE.clear()
        _CACHE[key] = (data, parts, spec, cfg)
    return _CACHE[key]  # type: ignore[no-any-return]


def _model(spec: ModelSpec, seed: int) -> torch.nn.Module:
    key = ("model", json.dumps(spec.to_dict(), sort_keys=True))
    if key not in _CACHE:
        _CACHE[key] = build_model(spec, seed=seed)
    return _CACHE[key]  # type: ignore[no-any-return]


# Module level, so that Ray's workers import it by reference (and keep the per-process cache).
client_app = ClientApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """One FedAvg client step: the global model in, the locally trained model and n out."""
    torch.set_num_threads(1)  # one core per client actor, as fedchain and plain FedAvg use
    config = msg.content.config_records["config"]
    job = json.loads(str(config["job"]))
    data, parts, spec, cfg = setup(job)
    pid = int(str(context.node_config["partition-id"]))
    rnd = int(str(config["server-round"]))
    model = _model(spec, job["seed"])
    model.load_state_dict(msg.content.array_records["arrays"].to_torch_state_dict())
    idx = parts[pid]
    result = train_local(
        model,
        data.x_train[idx],
        data.y_train[idx],
        cfg,
        seed=client_seed(job["seed"], rnd - 1, pid),
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord(model.state_dict()),
            "metrics": MetricRecord(
                {"train_loss": result.loss, "num-examples": result.num_samples}
            ),
        }
    )
    return Message(content=content, reply_to=msg)


def build_server_app(job: dict[str, Any], timings: dict[str, Any]) -> ServerApp:
    """The ServerApp of the job; it records its timings and accuracies in ``timings``."""
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        torch.set_num_threads(1)
        data, _, spec, _ = setup(job)
        eval_model = build_model(spec, seed=job["seed"])
        stamps: list[float] = []
        accuracies: list[float] = []

        def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            eval_model.load_state_dict(arrays.to_torch_state_dict())
            acc, loss = evaluate(eval_model, data.x_test, data.y_test)
            if server_round > 0:
                accuracies.append(acc)
            stamps.append(time.perf_counter())
            return MetricRecord({"accuracy": acc, "loss": loss})

        strategy = FedAvg(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=job["clients"],
            min_available_nodes=job["clients"],
            weighted_by_key="num-examples",
        )
        initial = ArrayRecord(build_model(spec, seed=job["seed"]).state_dict())
        started = time.perf_counter()
        strategy.start(
            grid=grid,
            initial_arrays=initial,
            num_rounds=job["rounds"],
            train_config=ConfigRecord({"job": json.dumps(job, sort_keys=True)}),
            evaluate_fn=evaluate_fn,
        )
        timings["strategy_seconds"] = time.perf_counter() - started
        timings["round_seconds"] = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        timings["rounds_seconds"] = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
        timings["accuracies"] = accuracies

    return server_app


def run(
    job: dict[str, Any], *, num_cpus: int, cpus_per_client: float, ray_tmp: str | None
) -> dict[str, Any]:
    """Run the job in Flower's simulation and return its timings (in this process)."""
    import logging

    logging.getLogger("flwr").setLevel(logging.WARNING)  # one INFO line per round otherwise
    timings: dict[str, Any] = {}
    server_app = build_server_app(job, timings)
    init_args: dict[str, Any] = {
        "num_cpus": num_cpus,
        "include_dashboard": False,
        "logging_level": "ERROR",
    }
    if ray_tmp:
        init_args["_temp_dir"] = ray_tmp
    backend_config = {
        "client_resources": {"num_cpus": cpus_per_client, "num_gpus": 0.0},
        "init_args": init_args,
    }
    started = time.perf_counter()
    try:
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=job["clients"],
            backend_name="ray",
            backend_config=backend_config,  # type: ignore[arg-type]
        )
    finally:
        if ray.is_initialized():  # Flower's backend shuts Ray down; make sure of it
            ray.shutdown()
    simulation_seconds = time.perf_counter() - started
    if "rounds_seconds" not in timings:
        raise RuntimeError("Flower's ServerApp did not finish (see the log above)")
    return {
        "flwr_version": flwr.__version__,
        "ray_version": ray.__version__,
        "import_seconds": IMPORT_SECONDS,
        "simulation_seconds": simulation_seconds,
        "parallel_clients": int(num_cpus // cpus_per_client) if cpus_per_client else None,
        "client_resources": backend_config["client_resources"],
        **timings,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", required=True, help="the job as JSON (see benchmarks.walltime)")
    ap.add_argument("--out", required=True, help="where to write the JSON result")
    ap.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cpus-per-client", type=float, default=1.0)
    ap.add_argument("--ray-tmp", default=None, help="Ray's session directory (default: Ray's own)")
    args = ap.parse_args(argv)
    result = run(
        json.loads(args.job),
        num_cpus=args.num_cpus,
        cpus_per_client=args.cpus_per_client,
        ray_tmp=args.ray_tmp,
    )
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    # Re-enter through the importable module so that Ray workers unpickle the client app's
    # functions by reference (benchmarks.flower_job) rather than from a copy of __main__.
    from benchmarks import flower_job

    flower_job.IMPORT_SECONDS = IMPORT_SECONDS  # this copy paid for the imports
    sys.exit(flower_job.main())
