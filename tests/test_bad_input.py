"""Every bad setting, damaged file and fault answers in one line with a non-zero exit; nothing is lost or leaked.

Tables of cases, by category, each run through the real `qhep` command. The probes over every declared setting
hold future methods, backends and task settings to the same bar without a new line here. (File-format cases:
tests/test_bad_data.py.)
"""
from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from qhep.config import STAGES, RunConfig, TunedConfig, compose_run
from qhep.harness.reduction import ReductionConfig
from qhep.methods import METHODS
from qhep.protocols import PROTOCOLS
from qhep.quantum.backends import BACKENDS
from qhep.settings import Number, declared, undeclared
from qhep.tasks.settings import TASK_SETTINGS

FAST = ["method=ae", "method.epochs=1", "task.region=all", "progress=false", "plots=false"]
TOKEN = "qhep-test-token-" + "0123456789" * 3  # a made-up value that must never appear anywhere



def refused(cli, *args, names=()):
    """Exit 2, one line on stderr that names each of `names`, no traceback; returns the line."""
    code, out, err = cli(*args)
    assert code == 2, (code, out, err)
    assert err.count("\n") == 1 and err.startswith("qhep: error: ") and "Traceback" not in err + out, err
    for name in names:
        assert str(name) in err, (name, err)
    return err


# --- settings: one line naming the setting, before any folder exists ----------------------------------------------

BAD_SETTINGS = [
    ("method.epochs=0", "method.epochs"), ("method.epochs=-1", "method.epochs"), ("method.lr=0", "method.lr"),
    ("method.lr=-0.1", "method.lr"), ("method.batch_size=0", "method.batch_size"),
    ("protocol.train_fraction=-0.5", "protocol.train_fraction"), ("protocol.train_fraction=1", "protocol.train_fraction"),
    ("protocol.max_train_events=-5", "protocol.max_train_events"), ("min_background=-1", "min_background"),
    ("task.data.path=", "task.data.path"), ("task.data.path=[]", "task.data.path"),
    ("task.data.path=[a.h5,b.h5]", "task.data.path"), ("task.data.path={a:1}", "task.data.path"),
    ("task.data=5", "task.data"), ("seed=-1", "seed"), ("seed=4294967296", "seed"), ("seed=1.5", "seed"),
    ("task.signal_region=[3.3]", "task.signal_region"), ("task.signal_region=[3.7,3.3]", "task.signal_region"),
    ("task.signal_region=x", "task.signal_region"), ("task.features=[]", "task.features"),
    ("task.features=[mjj,mjj]", "task.features"), ("task.region=everywhere", "task.region"),
    ("task.injection.signal=-1", "task.injection"), ("task.name=top", "task=<name>"),
    ("method.name=ae", "method=<name>"), ("backend.name=aer", "backend=<name>"), ("+foo=1", "+foo"),
    ("++seed=3", "++seed"), ("~seed", "~seed"), ("task@x=lhco", "task@x"), ("task.title=x", "task.title"),
    ("task.reference.max_sic.cwola=99", "task.reference"), ("task.features=[mjj,", "task.features"), ("method.n_layers=100000", "method.n_layers"),
    ("method.optimizer=sgd", "method.optimizer"), ("method.train_backend=nope", "method.train_backend"),
    ("test_events=1", "test_events"), ("results_dir=", "results_dir"), ("plots=maybe", "plots"),
    ("reduction.method=umap", "reduction.method"), ("reduction.n_components=0", "reduction.n_components"),
    ("method=ae method.hidden=[0]", "method.hidden"), ("method=ae method.hidden=8", "method.hidden"),
    ("backend=aer backend.shots=0", "backend.shots"), ("backend=aer backend.shots=-3", "backend.shots"),
    ("backend=aer backend.noise_scale=-1", "backend.noise_scale"), ("backend=aer backend.readout=x", "backend.readout"),
    ("backend=aer backend.optimization_level=4", "backend.optimization_level"),
    ("backend=fake backend.execution=sessions", "backend.execution"), ("backend=ibm backend.channel=x", "channel"),
    ("backend=pennylane backend.shots=0", "backend.shots"), ("backend=pennylane backend.device=", "backend.device"),
    ("task=top task.data.max_jets=0", "task.data.max_jets"), ("task=top task.view_constituents=0", "view_constituents"),
    ("task=top task.data.path=[a.h5,'']", "task.data.path"), ("task=darkmachines task.channel=4", "task.channel"),
    ("task=darkmachines task.signal=nope", "task.signal"), ("task=darkmachines task.max_objects=0", "max_objects"),
    ("task=darkmachines task.weighted_metrics=3", "task.weighted_metrics"),
    ("task=darkmachines task.max_background_events=0", "max_background_events"),
    # valid one by one, not together
    ("method=ae backend=aer", "method ae is classical"), ("protocol=supervised", "set protocol=unsupervised"),
    ("protocol=weak", "protocol"), ("protocol.train_fraction=0", "protocol.train_fraction"),
    ("method=qae method.encoder=ae", "method=chain"), ("method=chain method.encoder=iforest", "choose one of: ae, imageae, particleae, pca, vae"),
    ("method=chain method.encoder=pca method.encoder.latent_dim=4", "valid settings of method.encoder"),
    ("method=chain method.encoder=pca method.encoder.n_components=5", "method.encoder.n_components=4"),
    ("method=chain method.encoder.name=pca", "method.encoder=<name>"),
    ("method=chain method.scorer.n_trash=0", "method.scorer.n_trash"), ("method=ae dry_run=true", "nothing to price"),
    ("dry_run=true", "backend fast runs locally"),
    ("backend=aer method.optimizer=qng method.qng_approx=full", "method.qng_approx=full"),
    ("backend=fake method.optimizer=qng method.qng_approx=full", "method.train_backend=fast"),
]


@pytest.mark.parametrize("overrides, name", BAD_SETTINGS)
def test_bad_setting_is_one_line_before_any_folder(tmp_path, cli, monkeypatch, overrides, name):
    monkeypatch.chdir(tmp_path)
    where = [] if overrides.startswith("results_dir") else ["results_dir=results"]
    refused(cli, "run", *overrides.split(), *where, names=[name])
    assert not any(tmp_path.iterdir())


def _numeric_settings():
    """(group choice override, key, check) for every declared numeric setting of every registered piece."""
    for name, (method, settings) in METHODS.items():
        task = "" if method.view == "features" else "task=top "  # a task that offers the method's view
        group = f"{task}method={name} protocol={method.protocols[0]}"
        yield from ((group, f"method.{k}", c) for k, c in declared(settings).items())
    for name, backend in BACKENDS.items():
        yield from ((f"backend={name}", f"backend.{k}", c) for k, c in declared(type(backend)).items())
    for name, (_, settings) in PROTOCOLS.items():
        runs = next(m for m, (cls, _) in METHODS.items() if name in cls.protocols and cls.view == "features")
        yield from ((f"method={runs} protocol={name}", f"protocol.{k}", c) for k, c in declared(settings).items())
    for name, checks in TASK_SETTINGS.items():
        yield from ((f"task={name}", f"task.{k}", c) for k, c in checks.items())
    yield from ((None, k, c) for k, c in declared(RunConfig).items())
    yield from ((None, f"reduction.{k}", c) for k, c in declared(ReductionConfig).items())
    yield from ((None, f"tuned.{k}", c) for k, c in declared(TunedConfig).items())


NUMERIC = [(g, k, c) for g, k, c in _numeric_settings() if isinstance(c, Number)]


@pytest.mark.parametrize("group, key, check", NUMERIC, ids=[f"{g}:{k}" for g, k, _ in NUMERIC])
@pytest.mark.parametrize("value", [0, -1, "abc"])
def test_every_numeric_setting_probed(group, key, check, value):
    """0 and -1 are refused exactly where the declaration refuses them; a wrong type always is."""
    overrides = [*(group or "").split(), f"{key}={value}"]
    if check.why(value) is None:
        compose_run(overrides)  # valid: composes
        return
    with pytest.raises(Exception) as error:
        compose_run(overrides)
    assert type(error.value).__name__ == "QhepError" and key in str(error.value) and "\n" not in str(error.value)


def test_every_setting_declares_its_check():
    """A new method, backend or top-level setting without a declared type and range fails here."""
    kinds = [settings for _, settings in METHODS.values()] + [type(b) for b in BACKENDS.values()]
    stages = ("defaults", *STAGES)  # a chain's stages are methods, checked by their own declarations
    missing = {kind.__qualname__: [f for f in undeclared(kind) if f != "name" and f not in stages] for kind in kinds}
    kinds += [settings for _, settings in PROTOCOLS.values()]
    missing["RunConfig"] = [f for f in undeclared(RunConfig) if f not in ("defaults", "task", "protocol", "method",
                                                                          "backend", "reduction", "tuned")]
    missing["ReductionConfig"] = undeclared(ReductionConfig)
    missing["TunedConfig"] = undeclared(TunedConfig)
    assert not {k: v for k, v in missing.items() if v}
    assert len(NUMERIC) > 40


# --- secrets: no setting reads the environment ---------------------------------------------------------------------

@pytest.mark.parametrize("override", ["method.lr=${oc.env:QISKIT_IBM_TOKEN}", "task.title=${oc.env:QISKIT_IBM_TOKEN}",
                                      "backend=ibm backend.device=${oc.env:QISKIT_IBM_TOKEN}",
                                      "results_dir=${oc.env:QISKIT_IBM_TOKEN}",
                                      "task.data.path='${oc.env:QISKIT_IBM_TOKEN}'",
                                      "method.lr=${oc.decode:${oc.env:QISKIT_IBM_TOKEN}}"])
def test_interpolations_never_read_the_environment(tmp_path, cli, monkeypatch, override):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    err = refused(cli, "run", *override.split(), "results_dir=out", names=["interpolations"])
    assert TOKEN not in err
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(TOKEN.encode() in content for content in written)


def test_sweep_and_resume_refuse_interpolations_too(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    assert TOKEN not in refused(cli, "sweep", "seed=0,1", "task.title=${oc.env:QISKIT_IBM_TOKEN}",
                                f"results_dir={tmp_path}")
    folder = tmp_path / "runs" / "x"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({
        "schema": "qhep.run/1", "run_id": "x", "created": "2026-01-01T00:00:00+00:00", "config": {},
        "overrides": ["method.lr=${oc.env:QISKIT_IBM_TOKEN}"]}))
    assert TOKEN not in refused(cli, "resume", folder, names=["interpolations"])


# --- names that become paths, text that reaches a terminal ---------------------------------------------------------

def test_run_folder_names_cannot_leave_the_results_folder():
    from qhep.harness.runner import run_label, safe_name

    assert safe_name("../../../../x") == "_.._.._.._x" and "/" not in safe_name("a/b\\c") and safe_name("..") == "_"
    cfg = compose_run(["backend=pennylane", "backend.device=../../../../x"])
    assert "/" not in run_label(cfg)


def test_leaderboard_strips_control_characters_and_markup(tmp_path, cli, lhco_file):
    assert cli("run", *FAST, f"task.data.path={lhco_file}", f"results_dir={tmp_path}")[0] == 0
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    record["task"] = "l\x1b]0;t\x07\x1b[2J[b]x[/b]"  # a terminal title, a screen clear, rich markup
    path.write_text(json.dumps(record))
    code, out, _ = cli("leaderboard", "--results", tmp_path)
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "[b]x[/b]" in out


# --- the operating system refuses: one line naming the path, and how to go on --------------------------------------

def test_results_folder_that_is_a_file(tmp_path, cli, lhco_file):
    blocker = tmp_path / "results"
    blocker.write_text("")
    refused(cli, "run", *FAST, f"task.data.path={lhco_file}", f"results_dir={blocker}", names=[blocker])


@pytest.mark.parametrize("fault, words", [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied")])
def test_results_folder_refused_by_the_file_system(tmp_path, cli, monkeypatch, lhco_file, fault, words):
    def refuse(dir, **_):  # root writes through permissions: the file system's refusal is simulated
        raise OSError(fault, os.strerror(fault), dir)

    monkeypatch.setattr("qhep.storage.tempfile.mkstemp", refuse)
    refused(cli, "run", *FAST, f"task.data.path={lhco_file}", f"results_dir={tmp_path}", names=[words, tmp_path])


def test_full_disk_at_the_record_keeps_the_work_and_says_how_to_resume(tmp_path, cli, monkeypatch, lhco_file):
    """The real kernel's ENOSPC (/dev/full) when the record is written; the resume then finishes the run."""
    import qhep.storage as records

    real, writes = os.fdopen, []

    def fdopen(fd, *args, **kwargs):
        writes.append(fd)
        if len(writes) == 3:  # run.json and the model's model.json go through; result.json meets a full disk
            os.close(fd)
            return open("/dev/full", "w")
        return real(fd, *args, **kwargs)

    monkeypatch.setattr(records.os, "fdopen", fdopen)
    err = refused(cli, "run", *FAST, f"task.data.path={lhco_file}", f"results_dir={tmp_path}",
                  names=["no space left", "result.json", "qhep resume"])
    (folder,) = (tmp_path / "runs").iterdir()
    assert str(folder) in err and not list(folder.glob(".tmp-*")) and not (folder / "result.json").exists()
    monkeypatch.setattr(records.os, "fdopen", real)
    code, _, err = cli("resume", folder)
    assert code == 0, err
    timing = json.loads((folder / "result.json").read_text())["timing"]
    assert timing["model_restored"] and timing["train_seconds"] > 0  # the model saved before the failure, reused


# --- files qhep wrote, read back: validated, never trusted ---------------------------------------------------------

def _run_folder(tmp_path, cli, lhco_file):
    assert cli("run", *FAST, f"task.data.path={lhco_file}", f"results_dir={tmp_path}")[0] == 0
    (folder,) = (tmp_path / "runs").iterdir()
    (folder / "result.json").unlink()  # as if interrupted after run.json
    return folder


@pytest.mark.parametrize("damage, words", [
    (lambda s: s.pop("overrides"), "overrides"),
    (lambda s: s.update(overrides="method=ae"), "overrides"),
    (lambda s: s.update(overrides=[3]), "overrides"),
    (lambda s: s.update(created="yesterday"), "created"),
    (lambda s: s.update(config=[]), "config"),
    (lambda s: s.update(schema="qhep.run/9"), "schema"),
    (lambda s: s.update(sweep="x"), "sweep"),
])
def test_damaged_run_json_is_refused_on_resume(tmp_path, cli, lhco_file, damage, words):
    folder = _run_folder(tmp_path, cli, lhco_file)
    state = json.loads((folder / "run.json").read_text())
    damage(state)
    (folder / "run.json").write_text(json.dumps(state))
    refused(cli, "resume", folder, names=[folder / "run.json", words])


@pytest.mark.parametrize("content, words", [(b"\xff\xfe\x00garbage", "UTF-8"), (b"{", "bad JSON"), (b"[]", "schema")])
def test_unreadable_run_json_is_refused_on_resume(tmp_path, cli, lhco_file, content, words):
    folder = _run_folder(tmp_path, cli, lhco_file)
    (folder / "run.json").write_bytes(content)
    refused(cli, "resume", folder, names=[folder / "run.json", words])


@pytest.mark.parametrize("damage, words", [
    (lambda s: s["points"][0].update(run_dir="../../elsewhere"), "run_dir"),
    (lambda s: s["points"][0].pop("overrides"), "overrides"),
    (lambda s: s.update(points=[]), "points"),
    (lambda s: s["points"][0].update(index=5), "numbered"),
    (lambda s: s.update(id="../x"), "id"),
])
def test_damaged_sweep_json_is_refused_on_resume(tmp_path, cli, lhco_file, damage, words):
    from qhep.harness.sweep import run_sweep  # noqa: F401  (the sweep below writes its state first)

    code, _, err = cli("sweep", *FAST, "seed=0,1", f"task.data.path={lhco_file}", f"results_dir={tmp_path}")
    assert code == 0, err
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    state = json.loads((sweep_dir / "sweep.json").read_text())
    damage(state)
    (sweep_dir / "sweep.json").write_text(json.dumps(state))
    refused(cli, "resume", sweep_dir, names=[sweep_dir / "sweep.json", words])


@pytest.mark.parametrize("damage, words", [
    (lambda r: r.pop("metrics"), "metrics"), (lambda r: r.update(seed="zero"), "seed"),
    (lambda r: r["metrics"].update(auc=7.0), "metrics.auc"), (lambda r: r.update(task=None), "task"),
])
def test_damaged_record_is_named_by_the_leaderboard(tmp_path, cli, lhco_file, damage, words):
    assert cli("run", *FAST, f"task.data.path={lhco_file}", f"results_dir={tmp_path}")[0] == 0
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    damage(record)
    path.write_text(json.dumps(record))
    refused(cli, "leaderboard", "--results", tmp_path, names=[path, words])


def test_damaged_journal_entries_are_discarded_and_redone(tmp_path):
    from qhep.quantum.journal import JobJournal, result_fits

    journal = JobJournal(tmp_path)
    journal.record_submitted("k1", "job-1", "aer", 2, 100)
    journal.record_done("k1", "job-1", [[0.5, 0.25]])
    with open(journal.path, "ab") as handle:
        handle.write(b'\xff\xfe not utf-8\n{"event": "done", "key": 3}\n{"event": "done", "key": "k2", "job_id": "j",'
                     b' "results": "no"}\n["a list"]\n{"event": "later", "key": "k3", "job_id": "j"}\n{"trunc')
    again = JobJournal(tmp_path)
    assert set(again.finished) == {"k1"} and again.discarded == 6 and not again.submitted.get("k2")
    assert result_fits([[0.5, 0.25]], [2], [(0, 1)])
    for bad in ([[7.0, 0.25]], [[0.5]], [[0.5, float("nan")]], [[0.5, "x"]], [[0.5, 0.2], [0.1]]):
        assert not result_fits(bad, [2], [(0, 1)]), bad


def test_out_of_range_journal_results_are_rerun_not_used(tmp_path, cli, lhco_file):
    """A probability of 7.0 in a journal is not a result: the job runs again, and the numbers are the true ones."""
    run = ["run", "method=qae", "backend=aer", "backend.shots=100", "method.train_backend=fast", "method.epochs=1",
           "method.n_layers=1", "test_events=40", "task.region=all", "progress=false", "plots=false",
           f"task.data.path={lhco_file}"]
    assert cli(*run, f"results_dir={tmp_path / 'a'}")[0] == 0
    (first,) = (tmp_path / "a").rglob("result.json")
    journal = first.parent / "jobs.jsonl"
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    for entry in lines:
        if entry["event"] == "done":
            entry["results"] = [[7.0] * len(r) for r in entry["results"]]
    journal.write_text("".join(json.dumps(e) + "\n" for e in lines))
    code, _, err = cli(*run, f"backend.journal={first.parent}", f"results_dir={tmp_path / 'b'}")
    assert code == 0, err
    (second,) = (tmp_path / "b").rglob("result.json")
    a, b = (json.loads(p.read_text()) for p in (first, second))
    assert b["resources"]["execution"]["results_from_journal"] == 0
    assert b["resources"]["execution"]["journal_entries_discarded"] >= 1
    assert a["metrics"]["auc"] == b["metrics"]["auc"]


# --- concurrency and durability ------------------------------------------------------------------------------------

def test_a_second_process_in_a_run_folder_is_refused_naming_the_holder(tmp_path, cli, lhco_file):
    from qhep.harness.lock import folder_lock

    folder = _run_folder(tmp_path, cli, lhco_file)
    with folder_lock(folder):  # another open file description: flock refuses it as it would another process
        refused(cli, "resume", folder, names=[folder, f"process {os.getpid()}"])
    code, _, err = cli("resume", folder)  # released: it goes on
    assert code == 0, err


def test_records_are_group_readable_and_stale_temporaries_cleaned(tmp_path, cli, lhco_file):
    assert cli("run", *FAST, f"task.data.path={lhco_file}", f"results_dir={tmp_path}")[0] == 0
    (folder,) = (tmp_path / "runs").iterdir()
    for name in ("run.json", "result.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) & 0o044 == 0o044
    dead, alive = folder / ".tmp-999999999-abc.json", folder / f".tmp-{os.getpid()}-abc.json"
    dead.write_text("{"), alive.write_text("{")
    from qhep.storage import write_json_atomic

    write_json_atomic({"x": 1}, folder / "other.json")
    assert not dead.exists() and alive.exists()


def test_resumed_run_counts_every_attempts_training_and_the_leaderboard_shows_it_meanwhile(
        tmp_path, cli, monkeypatch, lhco_file):
    import time

    from qhep.methods.autoencoder import Autoencoder

    real = Autoencoder.fit

    def interrupted(self, X, y=None):
        time.sleep(0.3)
        raise KeyboardInterrupt

    monkeypatch.setattr(Autoencoder, "fit", interrupted)
    code, _, err = cli("run", *FAST, f"task.data.path={lhco_file}", f"results_dir={tmp_path}")
    assert code == 130 and "qhep resume" in err
    code, out, _ = cli("leaderboard", "--results", tmp_path)
    assert code == 0 and "unfinished runs: 1" in out and "interrupted while training" in out
    monkeypatch.setattr(Autoencoder, "fit", real)
    (folder,) = (tmp_path / "runs").iterdir()
    assert cli("resume", folder)[0] == 0
    timing = json.loads((folder / "result.json").read_text())["timing"]
    assert timing["train_seconds"] >= 0.3 and timing["train_attempts"] == 2
    code, out, _ = cli("leaderboard", "--results", tmp_path)
    assert "unfinished" not in out and "1 run(s)" in out


# --- refusals that used to mislead ---------------------------------------------------------------------------------

def test_too_few_inputs_for_the_trash_qubits_says_what_to_set(tmp_path, cli, lhco_file):
    refused(cli, "run", "method=qae", "task.features=[mjj,mj_min]", f"task.data.path={lhco_file}",
            f"results_dir={tmp_path / 'r'}", names=["method.n_trash=1"])
    assert not (tmp_path / "r").exists()
    code, _, err = cli("run", "method=qae", "method.n_trash=1", "method.epochs=1", "task.features=[mjj,mj_min]",
                        "task.region=all", "progress=false", "plots=false", f"task.data.path={lhco_file}",
                        f"results_dir={tmp_path / 'r'}")
    assert code == 0, err


@pytest.mark.parametrize("args, words", [
    (["--task", "nope"], "unknown task 'nope'"), (["--sweep", "nope"], "no records of sweep 'nope'"),
    (["--results", "no/such/folder"], "no such results folder"),
])
def test_leaderboard_refuses_what_it_cannot_show(tmp_path, cli, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    refused(cli, "leaderboard", *args, names=[words])


def test_list_shows_whole_sentences(cli):
    code, out, _ = cli("list")
    flat = " ".join(out.replace("│", " ").split())
    assert code == 0 and "the saved account and is never part of the configuration." in flat
