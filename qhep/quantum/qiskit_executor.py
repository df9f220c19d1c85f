"""The circuit-agnostic half of the Qiskit backends: transpile once, pack bindings into PUBs and jobs, journal,
retry, and group jobs in Runtime Sessions or Batches (see QiskitExecutor)."""
from __future__ import annotations

import hashlib
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from qiskit.transpiler import generate_preset_pass_manager

from qhep.errors import QhepError
from qhep.quantum.journal import JobJournal, result_fits, with_retries
from qhep.quantum.qiskit_circuit import add_readout
from qhep.quantum.qiskit_runners import _LOCAL_JOBS, config_value, scrub
from qhep.text import format_duration

NOT_MEASURED = ("measure", "barrier", "save_probabilities")


@dataclass
class Compiled:
    """One circuit transpiled to the target's ISA, with the readout it needs."""

    tag: str
    isa: object
    columns: np.ndarray  # which columns of a full row (x..., theta...) feed the ISA's parameters, in its order
    physical_qubits: list[int]



class QiskitExecutor:
    """Runs parametrised circuits on a Qiskit target, whatever they compute: each circuit transpiled once to the
    target's ISA, rows of bound values packed as SamplerV2 PUBs into as few jobs as the limits allow (several
    circuits' PUBs share a job), finished jobs journaled and replayed, transient errors retried, jobs grouped in
    Runtime Sessions or Batches. A program (the QAE's, a quantum kernel's) says what to run and how to reduce it.

    `identity` is what makes a program's results reusable from a journal (its circuit and readout);
    `parameter_names` orders the columns of a full row of values."""

    def __init__(self, runner, identity, parameter_names: list[str], optimization_level: int = 1,
                 max_bindings_per_job: int = 100_000, max_executions_per_job: int = 10_000_000, seed: int = 0,
                 journal: str | None = None, execution: str = "auto", noise: str = "", retries: int = 4,
                 retry_delay: float = 2.0):
        self.runner, self.name, self.identity, self.parameter_names = runner, runner.name, identity, parameter_names
        self.optimization_level, self.seed, self.execution_mode = optimization_level, seed, execution
        self.noise = noise  # a simulator's noise model, by name: part of what makes a journaled result reusable
        self.max_bindings_per_job, self.max_executions_per_job = max_bindings_per_job, max_executions_per_job
        if runner.shots is not None and runner.max_shots and runner.shots > runner.max_shots:
            raise QhepError(f"backend {runner.name}: {runner.shots} shots exceed the device limit {runner.max_shots}")
        self.journal = JobJournal(journal) if journal else None
        self.retries, self.retry_delay, self.sleep = retries, retry_delay, time.sleep
        self.on_submit: list = []  # callables(job_id), run after each submission is journaled
        self.submissions = 0
        self._compiled: dict[str, Compiled] = {}
        self._stats = {"bindings": 0, "pubs": 0, "jobs": 0, "job_ids": [], "seconds": 0.0,
                       "results_from_journal": 0, "jobs_collected_by_id": 0, "jobs_by_mode": {}, "mode_ids": []}

    # --- circuits, each transpiled once ---------------------------------------------------------------------
    def compile(self, tag: str, circuit, readout_qubits) -> Compiled:
        """`circuit` with its readout, transpiled to the target once; its parameters map onto the columns of a
        full row of values (`parameter_names` order)."""
        if tag not in self._compiled:
            width, available = circuit.num_qubits, getattr(self.runner.target, "num_qubits", None)
            if available and width > available:
                raise QhepError(f"backend {self.name}: the {tag} circuit needs {width} qubits, the device has "
                                f"{available}")
            circuit = circuit.copy()
            add_readout(circuit, readout_qubits)
            manager = generate_preset_pass_manager(optimization_level=self.optimization_level,
                                                   target=self.runner.target, seed_transpiler=self.seed)
            isa = manager.run(circuit)
            physical = list(isa.layout.final_index_layout()) if isa.layout else list(range(width))
            if self.runner.shots is None:
                # Exact: the same transpiled circuit (layout, routing, gates) as with shots, its measurements
                # replaced by saving the probabilities of the very qubits they read, in readout-bit order.
                measured = {isa.find_bit(inst.clbits[0]).index: isa.find_bit(inst.qubits[0]).index
                            for inst in isa.data if inst.operation.name == "measure"}
                isa.remove_final_measurements()
                isa.save_probabilities([measured[bit] for bit in range(len(readout_qubits))])
            column = {name: i for i, name in enumerate(self.parameter_names)}
            self._compiled[tag] = Compiled(tag, isa, np.array([column[p.name] for p in isa.parameters], dtype=int),
                                           physical)
        return self._compiled[tag]

    def bindings_per_job(self) -> int:
        shots = self.runner.shots or 1
        return max(1, min(self.max_bindings_per_job, self.max_executions_per_job // shots))

    # --- execution --------------------------------------------------------------------------------------------
    @contextmanager
    def execution(self, purpose: str):
        """Where the jobs of `purpose` ("train" or "score") go: with execution=auto, a Session for iterative
        training and a Batch for independent scoring jobs, on backends that have them (IBM Runtime)."""
        kind = {"train": "session", "score": "batch"}[purpose] if self.execution_mode == "auto" else self.execution_mode
        opener = getattr(self.runner, "open_mode", None)
        if kind == "job" or opener is None:
            yield
            return
        with opener(kind) as mode:
            mode_id = getattr(mode, "session_id", None)
            if mode_id:
                self._stats["mode_ids"].append(mode_id)
            yield

    def _key(self, pubs: list) -> str:
        digest = hashlib.sha256(repr((self.name, getattr(self.runner.backend, "name", None), self.noise,
                                      str(self.runner.target.num_qubits), self.runner.shots,
                                      self.optimization_level, self.seed, self.identity)).encode())
        for tag, values in pubs:
            digest.update(tag.encode())
            digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def run(self, items: list) -> list[np.ndarray]:
        """Execute [(compiled, rows, reduce)]: rows of full values (x..., theta...) bound to the compiled circuit,
        reduce(frequencies) -> one result per binding. Bindings are packed into as few jobs as the limits allow
        (several PUBs per job); finished jobs come from the journal, submitted ones are collected by id."""
        tic = time.perf_counter()
        jobs_spec, keys = self._jobs(items)
        results: list = [None] * len(jobs_spec)
        jobs: list = [None] * len(jobs_spec)

        def complete(n: int) -> None:
            job, jobs[n] = jobs[n], None
            outcome = self._collect(job, keys[n])
            results[n] = [items[i][2](freq) for (i, _), freq in zip(jobs_spec[n], outcome)]
            if self.journal:
                self.journal.record_done(keys[n], job.job_id(), results[n])
            # A collected local job is never fetched again (its result is journaled): free it, or a training
            # run on a simulator would keep every step's job and result alive.
            _LOCAL_JOBS.pop(job.job_id(), None)

        # A remote backend gets every job before any is waited on, so they queue together; an in-process simulator
        # has no queue, and each job is collected at once so that one job's samples are held at a time.
        for n, (spec, key) in enumerate(zip(jobs_spec, keys)):
            results[n] = self._journaled_results(items, spec, key)
            if results[n] is not None:
                self._stats["results_from_journal"] += 1
                continue
            jobs[n] = self._submitted_job(key)
            if jobs[n] is not None:
                self._stats["jobs_collected_by_id"] += 1
                continue
            jobs[n] = self._send(items, spec, key)
            if self.runner.local:
                complete(n)
        for n, job in enumerate(jobs):
            if job is not None:
                complete(n)
        self._stats["bindings"] += sum(len(v) for spec in jobs_spec for _, v in spec)
        self._stats["pubs"] += sum(map(len, jobs_spec))
        self._stats["seconds"] += time.perf_counter() - tic
        per_item: list[list] = [[] for _ in items]
        for spec, result in zip(jobs_spec, results):
            for (i, _), part in zip(spec, result):
                per_item[i].append(part)
        return [np.concatenate(parts) for parts in per_item]

    def submit(self, items: list) -> list[str]:
        """Submit the jobs `run(items)` would run, without waiting for any: the same packing and journal keys, so
        a later `run(items)` collects them by id. Jobs finished or submitted already (journaled) are not sent
        again. Returns the id of every job of the items, journaled or new."""
        if self.journal is None:
            raise QhepError(f"backend {self.name}: submitting without waiting needs a job journal to collect the "
                            "jobs from later: set backend.journal")
        jobs_spec, keys = self._jobs(items)
        ids = []
        for spec, key in zip(jobs_spec, keys):
            if self._journaled_results(items, spec, key) is not None:
                ids.append(self.journal.finished[key]["job_id"])
            elif key in self.journal.submitted:
                ids.append(self.journal.submitted[key]["job_id"])
            else:  # a local job is left running: collecting it is a later run's work
                ids.append(self._send(items, spec, key).job_id())
        return ids

    def _jobs(self, items: list) -> tuple[list[list], list[str]]:
        """The items packed into jobs, and each job's journal key."""
        jobs_spec = self._pack(items)
        return jobs_spec, [self._key([(items[i][0].tag, v) for i, v in spec]) for spec in jobs_spec]

    def _journaled_results(self, items: list, spec: list, key: str) -> list | None:
        """A finished job's results from the journal, if they fit it; a damaged entry is forgotten (redone)."""
        if not self.journal or key not in self.journal.finished:
            return None
        journaled = self.journal.finished[key]["results"]
        if result_fits(journaled, [len(v) for _, v in spec], [items[i][2].bounds for i, _ in spec]):
            return [np.asarray(r, dtype=float) for r in journaled]
        self.journal.discard(key)  # damaged: run the job again rather than trust it
        return None

    def _submitted_job(self, key: str):
        """The job journaled as submitted under `key`, retrieved by id; None if there is none, or it is gone."""
        if not self.journal or key not in self.journal.submitted:
            return None
        return self.runner.retrieve(self.journal.submitted[key]["job_id"])

    def _send(self, items: list, spec: list, key: str):
        """Submit one job (retrying transient errors), journal its id before anything waits on it, count it."""
        pubs = [(items[i][0].isa, v) for i, v in spec]
        job = self._retry(lambda: self.runner.submit(pubs, int(key[:8], 16)))
        self.submissions += 1
        job_id = job.job_id()
        if self.journal:
            self.journal.record_submitted(key, job_id, self.name, sum(len(v) for _, v in spec), self.runner.shots)
        mode = type(self.runner.mode).__name__.lower() if getattr(self.runner, "mode", None) else "job"
        self._stats["jobs_by_mode"][mode] = self._stats["jobs_by_mode"].get(mode, 0) + 1
        self._stats["jobs"] += 1
        self._stats["job_ids"].append(job_id)
        for hook in self.on_submit:
            hook(job_id)
        return job

    def _pack(self, items: list) -> list[list]:
        """Jobs as lists of (item index, values): each item's bound rows cut to at most one job's worth of
        bindings, then consecutive pieces packed together (several PUBs per job) up to that limit."""
        size = self.bindings_per_job()
        jobs: list[list] = []
        for index, (compiled, rows, _) in enumerate(items):
            values = np.asarray(rows, dtype=float)[:, compiled.columns]
            for piece in (values[i : i + size] for i in range(0, len(values), size)):
                if not jobs or sum(len(v) for _, v in jobs[-1]) + len(piece) > size:
                    jobs.append([])
                jobs[-1].append((index, piece))
        return jobs

    def _retry(self, fn):
        return with_retries(fn, attempts=self.retries, base_delay=self.retry_delay, sleep=self.sleep)

    def _collect(self, job, key: str) -> list[np.ndarray]:
        """The job's outcomes; a job that fails for good becomes one line naming it (journaled as failed, so a
        rerun submits the work again instead of collecting a dead job)."""
        try:
            return self._retry(lambda: self.runner.collect(job))
        except Exception as exc:  # noqa: BLE001  whatever the provider raises
            reason = scrub((str(exc).strip().splitlines() or [""])[0], os.environ.get("QISKIT_IBM_TOKEN"))
            if self.journal:
                self.journal.record_failed(key, job.job_id(), f"{type(exc).__name__}: {reason}")
            where = f"; journal {self.journal.path}" if self.journal else ""
            raise QhepError(f"backend {self.name}: job {job.job_id()} failed: {type(exc).__name__}: {reason}"
                            f"{where}") from None

    # --- figures: of the program's `main` circuit (the QAE with its readout, a kernel's overlap circuit) ---------
    def circuit_figures(self) -> dict:
        main = self.main
        gates = [inst.operation for inst in main.isa.data if inst.operation.name not in NOT_MEASURED]
        figures = {
            "backend": self.name,
            "device": getattr(self.runner.backend, "name", None),
            "optimization_level": self.optimization_level,
            "transpiled_depth": main.isa.depth(lambda inst: inst.operation.name not in NOT_MEASURED),
            "transpiled_gates": len(gates),
            "two_qubit_gates": sum(g.num_qubits == 2 for g in gates),
            "physical_qubits": [int(q) for q in main.physical_qubits],
            "shots": self.runner.shots,
        }
        if any(g.num_qubits > 2 for g in gates):
            figures["three_qubit_gates"] = sum(g.num_qubits > 2 for g in gates)
        return figures

    def resources(self) -> dict:
        """Circuit figures plus what the runs so far used."""
        return {**self.circuit_figures(), **self.executed()}

    def plan(self, bindings: int, jobs: int | None = None) -> dict:
        """What executing `bindings` bindings (in at least `jobs` jobs) would submit, without submitting: shots and
        an estimate of QPU time, with every circuit counted as long as the main one (an upper bound)."""
        shots = self.runner.shots
        try:
            circuit_seconds = float(self.main.isa.estimate_duration(self.runner.target, unit="s"))
        except Exception:  # noqa: BLE001  targets without instruction durations (ideal simulators)
            circuit_seconds = None
        rep_delay = getattr(self.runner.backend, "default_rep_delay", None) or config_value(
            self.runner.backend, "default_rep_delay")
        per_shot = (circuit_seconds or 0.0) + (rep_delay or 0.0)
        return {
            "bindings": bindings,
            "jobs": max(jobs or 0, math.ceil(bindings / self.bindings_per_job())),
            "total_shots": bindings * shots if shots else None,
            "circuit_seconds": circuit_seconds,
            "rep_delay_seconds": rep_delay,
            "estimated_qpu_seconds": bindings * shots * per_shot if shots and per_shot else None,
            "estimated_qpu_time": format_duration(bindings * shots * per_shot) if shots and per_shot else None,
        }

    def executed(self) -> dict:
        """What the runs so far used: circuits, bindings, PUBs, jobs (ids, modes), seconds, discarded journal lines."""
        discarded = {"journal_entries_discarded": self.journal.discarded} if self.journal else {}
        return {"circuits": len(self._compiled), **discarded,
                **{k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                   for k, v in self._stats.items()}}
