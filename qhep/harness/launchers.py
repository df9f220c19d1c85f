"""Where a sweep's points run: in this process (`launcher=inline`, the default), in local processes
(`launcher=local`), as SLURM job arrays (`launcher=slurm`, submitit), on a Ray cluster (`launcher=ray`) or a Dask
cluster (`launcher=dask`, dask-jobqueue for batch systems).

Existing engines do the scheduling; qhep only hands them work items and reads back outcomes. A work item is plain
and picklable (the sweep's folder and point indices): the worker, `qhep.harness.sweep.run_points`, composes each
point's configuration from the overrides in sweep.json itself, so nothing OmegaConf crosses a process. The sweep's
folder must be on storage every worker sees (a cluster's shared file system). An engine's own failure (a job
killed, a worker lost) comes back as a failed outcome of the item's points, like a point's own error.
"""
from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qhep.errors import QhepError
from qhep.settings import Choice, Number, Text, setting
from qhep.text import one_line

EXTRA = "pip install 'qhep[cluster]'"
JOBQUEUE_CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
                     "htcondor": "HTCondorCluster", "oar": "OARCluster"}


@dataclass
class InlineSettings:
    """In this process, one point after another: a training group's points share the fitted model in memory."""

    name: str = "inline"


@dataclass
class LocalSettings:
    """Processes on this machine (spawned, so no state is inherited), at most max_workers at a time."""

    name: str = "local"
    max_workers: int = setting(2, Number(int, ge=1))


@dataclass
class SlurmSettings:
    """submitit job arrays on SLURM: one array task per point."""

    name: str = "slurm"
    # local / debug: submitit's executors on this machine (its own processes / this process), for tests
    cluster: str = setting("slurm", Choice(("slurm", "local", "debug")))
    partition: str | None = setting(None, Text(optional=True))
    account: str | None = setting(None, Text(optional=True))
    time: int = setting(60, Number(int, ge=1))  # minutes per point; submitit's own default (2) kills real work
    mem_gb: float = setting(4.0, Number(float, gt=0))
    cpus_per_task: int = setting(1, Number(int, ge=1))
    max_parallel: int | None = setting(None, Number(int, ge=1, optional=True))  # array tasks running at once


@dataclass
class RaySettings:
    """Ray tasks: on the cluster at `address`, on the Ray this process joined already, or on a new local one."""

    name: str = "ray"
    address: str | None = setting(None, Text(optional=True))  # e.g. ray://head:10001 or auto
    num_cpus: float = setting(1.0, Number(float, gt=0))  # per point


@dataclass
class DaskSettings:
    """Dask futures: on the scheduler at `address`, on a dask-jobqueue cluster (`cluster=slurm`, ...) of `workers`
    batch jobs, or on a LocalCluster of `workers` processes."""

    name: str = "dask"
    address: str | None = setting(None, Text(optional=True))  # e.g. tcp://scheduler:8786
    cluster: str | None = setting(None, Choice(tuple(JOBQUEUE_CLUSTERS), optional=True))
    workers: int = setting(2, Number(int, ge=1))
    # a dask-jobqueue worker job's resources (cluster=...)
    cores: int = setting(1, Number(int, ge=1))
    memory: str = setting("4GB", Text())
    walltime: str = setting("01:00:00", Text())
    queue: str | None = setting(None, Text(optional=True))
    account: str | None = setting(None, Text(optional=True))


SETTINGS = {"inline": InlineSettings, "local": LocalSettings, "slurm": SlurmSettings, "ray": RaySettings,
            "dask": DaskSettings}


@dataclass(frozen=True)
class Work:
    """Points of a sweep for one worker: plain values only (they are pickled to other processes and machines)."""

    sweep_dir: str
    indices: tuple[int, ...] = field(default_factory=tuple)


def failed(work: Work, exc: BaseException, where: str) -> list[dict]:
    """Outcomes for an item whose worker never reported (the engine's error, not the point's)."""
    error = f"{where}: {type(exc).__name__}: {one_line(str(exc))}"[:500]
    return [{"index": i, "status": "failed", "error": error, "metrics": None} for i in work.indices]


def engine(module: str, launcher: str):
    """An engine's module, imported only when its launcher is chosen."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise QhepError(f"launcher={launcher} needs {module.split('.')[0]}: {EXTRA}") from None


class Launcher(ABC):
    """Runs work items, yielding each point's outcome ({index, status, error, metrics}) as it completes.
    Used as a context manager: an engine is started (or joined) once for all of a sweep's phases."""

    parallel = True  # False: one item with every point (a training group shares its model in memory)

    def __init__(self, settings):
        self.settings = settings

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Stop what this launcher started."""

    @abstractmethod
    def run(self, work: list[Work]) -> Iterator[dict]:
        """Every point's outcome, as they complete."""

    def describe(self) -> str:
        return self.settings.name


def worker():
    """The function engines run, `run_points(sweep_dir, indices)`: importable by name, so engines pickle a
    reference to it, and given plain values (a path, a list of ints)."""
    from qhep.harness.sweep import run_points

    return run_points


class InlineLauncher(Launcher):
    parallel = False

    def run(self, work):
        from qhep.harness.sweep import iter_points

        for item in work:
            yield from iter_points(item.sweep_dir, list(item.indices))

    def describe(self):
        return "this process"


class LocalLauncher(Launcher):
    def __init__(self, settings):
        super().__init__(settings)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: a forked worker would inherit this process's threads (torch's, tqdm's) and its locks
        self.pool = ProcessPoolExecutor(settings.max_workers, mp_context=multiprocessing.get_context("spawn"))

    def run(self, work):
        from concurrent.futures import as_completed

        futures = {self.pool.submit(worker(), item.sweep_dir, list(item.indices)): item for item in work}
        try:
            for future in as_completed(futures):
                try:
                    yield from future.result()
                except Exception as exc:  # the worker process died (BrokenProcessPool) or could not unpickle
                    yield from failed(futures[future], exc, "local worker")
        finally:
            for future in futures:
                future.cancel()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def describe(self):
        return f"local processes (at most {self.settings.max_workers})"


class SlurmLauncher(Launcher):
    def __init__(self, settings, folder: Path):
        super().__init__(settings)
        submitit = engine("submitit", "slurm")
        s = settings
        self.executor = submitit.AutoExecutor(folder=str(folder), cluster=s.cluster)
        parameters = {"timeout_min": s.time, "mem_gb": s.mem_gb, "cpus_per_task": s.cpus_per_task,
                      "name": "qhep-sweep"}
        if s.cluster == "slurm":
            parameters.update(slurm_partition=s.partition, slurm_account=s.account,
                              slurm_array_parallelism=s.max_parallel)
        self.executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})

    def run(self, work):
        # one map_array call: a SLURM job array with a task per item (the local executors: a process each)
        submitted = self.executor.map_array(worker(), [w.sweep_dir for w in work], [list(w.indices) for w in work])
        jobs = dict(zip(submitted, work))
        try:
            while jobs:
                finished = [job for job in jobs if job.done()]  # the debug executor runs the job here
                for job in finished:
                    item = jobs.pop(job)
                    try:
                        yield from job.result()
                    except Exception as exc:  # the job failed, timed out or was cancelled
                        yield from failed(item, exc, f"submitit job {job.job_id}")
                if not finished:
                    time.sleep(0.5)
        finally:
            for job in jobs:  # interrupted: a queued or running job must not outlive the sweep unseen
                job.cancel(check=False)

    def describe(self):
        where = {"slurm": "SLURM job arrays", "local": "submitit local processes", "debug": "submitit in process"}
        return where[self.settings.cluster]


class RayLauncher(Launcher):
    def __init__(self, settings):
        super().__init__(settings)
        self.ray = engine("ray", "ray")
        self.joined = not self.ray.is_initialized()
        if self.joined:  # else: the Ray this process started or joined already (a test's local cluster)
            self.ray.init(address=settings.address, include_dashboard=False, log_to_driver=False)
        # no retries: a point that killed its worker is recorded as failed; a re-run retries it
        self.task = self.ray.remote(num_cpus=settings.num_cpus, max_retries=0)(worker())

    def run(self, work):
        refs = {self.task.remote(item.sweep_dir, list(item.indices)): item for item in work}
        try:
            while refs:
                (ready,), _ = self.ray.wait(list(refs), num_returns=1)
                item = refs.pop(ready)
                try:
                    yield from self.ray.get(ready)
                except Exception as exc:  # RayTaskError, a worker lost
                    yield from failed(item, exc, "ray task")
        finally:
            for ref in refs:
                self.ray.cancel(ref, force=True)

    def close(self):
        if self.joined:
            self.ray.shutdown()

    def describe(self):
        return f"Ray at {self.settings.address or 'a local cluster'}"


class DaskLauncher(Launcher):
    def __init__(self, settings):
        super().__init__(settings)
        distributed = engine("distributed", "dask")
        s = settings
        if s.address and s.cluster:
            raise QhepError("launcher.address and launcher.cluster: give one (a running scheduler, or a batch "
                            "system to start workers on)")
        self.cluster = None
        if s.cluster:
            jobqueue = engine("dask_jobqueue", "dask")
            kind = getattr(jobqueue, JOBQUEUE_CLUSTERS[s.cluster])
            extra = {"account": s.account} if s.account else {}
            self.cluster = kind(cores=s.cores, memory=s.memory, walltime=s.walltime, queue=s.queue, **extra)
            self.cluster.scale(jobs=s.workers)
        elif not s.address:
            self.cluster = distributed.LocalCluster(n_workers=s.workers, threads_per_worker=1, processes=True,
                                                    dashboard_address=None)
        self.client = distributed.Client(s.address or self.cluster)
        self.as_completed = distributed.as_completed

    def run(self, work):
        futures = {self.client.submit(worker(), item.sweep_dir, list(item.indices), pure=False, retries=0): item for item in work}
        try:
            for future in self.as_completed(list(futures)):
                item = futures.pop(future)
                try:
                    yield from future.result()
                except Exception as exc:  # the task's worker died, or the scheduler went away
                    yield from failed(item, exc, "dask task")
        finally:
            for future in futures:
                future.cancel()

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def describe(self):
        s = self.settings
        return f"Dask at {s.address}" if s.address else f"Dask {s.cluster or 'local'} cluster of {s.workers} workers"


def check_engine(settings) -> None:
    """The chosen launcher's engine is installed: said before the sweep's folder exists, not after."""
    modules = {"slurm": ["submitit"], "ray": ["ray"], "dask": ["distributed"]}.get(settings.name, [])
    if settings.name == "dask" and settings.cluster:
        modules.append("dask_jobqueue")
    for module in modules:
        engine(module, settings.name)


def make_launcher(settings, sweep_dir: Path) -> Launcher:
    """The launcher, its engine started or joined; an engine that cannot start (no SLURM here, no scheduler at
    the address) is one line."""
    kinds = {"inline": InlineLauncher, "local": LocalLauncher, "ray": RayLauncher, "dask": DaskLauncher}
    try:
        if settings.name == "slurm":
            return SlurmLauncher(settings, Path(sweep_dir) / "submitit")
        return kinds[settings.name](settings)
    except QhepError:
        raise
    except Exception as exc:
        raise QhepError(f"launcher={settings.name} could not start: {type(exc).__name__}: "
                        f"{one_line(str(exc))[:300]}") from None
