"""The `qhep` command: run, sweep, tune, resume, jobs, list, generate, leaderboard, report, data."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from qhep.errors import JobsPending, QhepError, describe_os_error
from qhep.text import one_line

USAGE_EXAMPLES = """examples:
  qhep run task=lhco method=qae
  qhep run task=lhco method=qae backend=default.qubit method.optimizer=qng method.n_layers=2
  qhep run task=lhco method=ae seed=3 task.data.path=events_anomalydetection_v2.features.h5
  qhep run method=qae backend=pennylane backend.device=default.mixed
  qhep run method=qae backend=aer backend.noise=fake:FakeManilaV2 backend.noise_scale=0.5 method.train_backend=fast
  qhep sweep method=qae backend=aer backend.noise=fake:FakeManilaV2 method.train_backend=fast \\
      backend.shots=100,1000,10000,null backend.noise_scale=0,0.5,1,2 test_events=2000
  qhep tune task=lhco method=qsvm tune.budget=12 tune.seeds=0,1,2
  qhep resume results/runs/20260101T120000-1a2b3c-lhco-qae-aer-seed0
  qhep run method=qae method.train_backend=fast backend=ibm backend.device=ibm_brisbane detach=true
  qhep jobs results/runs/20260101T120000-7a8b9c-lhco-qae-ibm-seed0
  qhep resume results/runs/20260101T120000-7a8b9c-lhco-qae-ibm-seed0 --wait
  qhep resume results/sweeps/20260101T120000-4d5e6f
  qhep run -m task=lhco,top method=ae,iforest seed=0,1,2 launcher=local launcher.max_workers=4
  qhep sweep method=ae,pca seed=range(0,5) launcher=slurm launcher.partition=cpu launcher.time=120
  qhep generate task=lhco n_background=100000 n_signal=10000 seed=2020 output=lhco.h5
  qhep leaderboard
  qhep leaderboard --sweep 20260101T120000-4d5e6f
  qhep report --results results --out results
  qhep data info events_anomalydetection_v2.features.h5
  qhep data download lhco --dest data
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qhep", description=__doc__, epilog=USAGE_EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one benchmark: task x method x backend")
    run.add_argument("overrides", nargs="*", help="key=value settings, e.g. task=lhco method=qae seed=1")
    run.add_argument("-m", "--multirun", action="store_true",
                     help="several values per setting (task=lhco,top seed=0,1,2) run every combination: a sweep")
    sweep = commands.add_parser("sweep", help="a grid of runs: settings with comma-separated values are axes")
    sweep.add_argument("overrides", nargs="*", help="key=value settings; key=a,b,c (or range(), glob()) is an axis")
    tune = commands.add_parser("tune", help="an equal-budget hyper-parameter search chosen on validation events, "
                               "then the default and the chosen configuration at every seed")
    tune.add_argument("overrides", nargs="*",
                      help="a run's key=value settings, plus tune.budget=12 tune.search=random|grid tune.seed=0 "
                           "tune.validation_fraction=0.25 tune.seeds=0,1,2 and launcher settings")
    resume = commands.add_parser("resume", help="go on with an interrupted run or sweep in its folder")
    resume.add_argument("folder", help="a run's folder (results/runs/...) or a sweep's (results/sweeps/...)")
    resume.add_argument("overrides", nargs="*",
                        help="a sweep's launcher settings to go on with, e.g. launcher=local launcher.max_workers=4")
    resume.add_argument("--wait", action="store_true",
                        help="wait for jobs still queued or running on a remote device (default: say so, exit 3)")
    jobs = commands.add_parser("jobs", help="the quantum jobs a run journaled and where each stands")
    jobs.add_argument("folder", help="a run's folder (results/runs/...)")
    commands.add_parser("list", help="list tasks, methods (and their named configurations) and backends")
    generate = commands.add_parser("generate", help="generate a task's sample with Pythia 8 + FastJet")
    generate.add_argument("overrides", nargs="*", help="task=... n_background=... n_signal=... seed=... output=...")
    board = commands.add_parser("leaderboard", help="table of all recorded runs")
    board.add_argument("--results", default="results", help="results folder (default: results)")
    board.add_argument("--task", default=None, help="only this task")
    board.add_argument("--sweep", action="append", default=None,
                       help="only this sweep's points, in the order of its axes (give several to combine them)")
    board.add_argument("--markdown", action="store_true", help="a Markdown table (for READMEs and reports)")
    board.add_argument("--grid", action="store_true", help="Markdown: methods x tasks, AUC (max SIC); with --sweep")
    board.add_argument("--seeds", action="store_true",
                       help="one row per configuration: mean ± seed-to-seed std (mean bootstrap std) over its seeds")
    board.add_argument("--plot", default=None, metavar="PNG",
                       help="with --sweep: draw the sweeps on shared axes (e.g. a quantum method and its twin)")
    board.add_argument("--x", default=None, metavar="AXIS", help="with --plot: the axis along x (default: the first)")
    reference = commands.add_parser("reference", help="run the reference suite (every task x method x seeds 0-2, "
                                    "...) into results/reference, then write the report")
    reference.add_argument("overrides", nargs="*", help="launcher settings (launcher=local launcher.max_workers=4) "
                                                        "or results_dir=...")
    report = commands.add_parser("report", help="every record into results/LEADERBOARD.md and leaderboard.html")
    report.add_argument("--results", default="results", help="results folder to read (default: results)")
    report.add_argument("--out", default="results", help="folder to write the report into (default: results)")
    report.add_argument("--readme", default=None, metavar="MD",
                        help="also write the headline table into this file's marked block (README.md)")
    report.add_argument("--include-dirty", action="store_true",
                        help="rank records from trees with uncommitted changes too, marked (default: listed apart)")
    data = commands.add_parser("data", help="inspect a data file or download a task's public data")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    info = data_commands.add_parser("info", help="format, events, labels and feature ranges of a data file")
    info.add_argument("path", help="a data file in one of the published layouts")
    download = data_commands.add_parser("download", help="fetch a task's files from Zenodo (resumable, verified)")
    download.add_argument("task", help="task whose public records to fetch, e.g. lhco")
    download.add_argument("--dest", default="data", help="folder for the files (default: data)")
    args = parser.parse_args(argv)
    # A batch system stops a job with SIGTERM: treat it as Ctrl-C, so the run says how to resume.
    if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return {"run": _run, "sweep": _sweep, "tune": _tune, "resume": _resume, "jobs": _jobs, "list": _list,
                "generate": _generate, "leaderboard": _leaderboard, "report": _report, "reference": _reference,
                "data": _data}[args.command](args)
    except JobsPending as exc:  # nothing wrong, nothing to do yet: its own exit code, for scripts that poll
        print(f"qhep: {one_line(str(exc))}", file=sys.stderr)
        return 3
    except QhepError as exc:
        print(f"qhep: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`qhep leaderboard | head`): nothing to say
        sys.stderr.close()
        return 0
    except OSError as exc:  # what the operating system refused (a full or read-only disk, a permission)
        print(f"qhep: error: {one_line(describe_os_error(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        folder = getattr(exc, "folder", None)  # set once a run or sweep has a folder to resume from
        print("qhep: interrupted" + (f"; resume with: qhep resume {folder}" if folder else ""), file=sys.stderr)
        return 130


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _run(args) -> int:
    from qhep.config import compose_run, is_launcher_setting
    from qhep.harness.runner import run_benchmark
    from qhep.reporting.tables import print_summary

    if args.multirun:  # the same sweep as `qhep sweep` with these axes
        return _sweep(args, command="run -m")
    launcher = next((o for o in args.overrides if is_launcher_setting(o)), None)
    if launcher:
        raise QhepError(f"{launcher}: the launcher runs a sweep's points; use qhep run -m or qhep sweep")
    axis = _axis(args.overrides)
    if axis:
        raise QhepError(f"{axis}: several values make a sweep; run every combination with qhep run -m (or qhep sweep)")
    record, run_dir = run_benchmark(compose_run(args.overrides), args.overrides)
    if run_dir is None:  # dry run: nothing was executed
        import json

        print(json.dumps(record, indent=2, default=str))
        return 0
    if "detached" in record:  # submitted, nothing waited on
        _print_detached(record["detached"], run_dir)
        return 0
    print_summary(record, run_dir)
    return 0


def _axis(overrides: list[str]) -> str | None:
    """The first override with several values (Hydra's sweep grammar), if any."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return None  # composing the run says what is wrong with it
    return next((o.input_line for o in parsed if o.is_sweep_override()), None)


def _print_detached(job_ids: list[str], run_dir: Path) -> None:
    print(f"submitted without waiting: {len(job_ids)} job{'s' * (len(job_ids) != 1)}")
    for job_id in job_ids:
        print(f"  {job_id}")
    print(f"run folder: {run_dir}")
    print(f"  qhep jobs {run_dir}      where each job stands")
    print(f"  qhep resume {run_dir}    collect the results and finish the run (--wait: wait for queued jobs)")


def _sweep(args, command: str = "sweep") -> int:
    from qhep.harness.sweep import run_sweep

    sweep_dir, state, records = run_sweep(args.overrides, command)
    return _print_sweep(sweep_dir, state, records)


def _reference(args) -> int:
    from qhep.harness.reference import FOLDER, run_reference
    from qhep.harness.sweep import failures
    from qhep.reporting.report import write_report

    sweeps = run_reference(args.overrides)
    failed = [p for _, state, _ in sweeps for p in failures(state)]
    for sweep_dir, state, records in sweeps:
        print(f"sweep: {sweep_dir / 'sweep.json'}: {len(records)} done, {len(failures(state))} failed")
    folder = next((o.partition("=")[2] for o in args.overrides if o.startswith("results_dir=")), FOLDER)
    from qhep.reporting.report_markdown import BEGIN

    readme = Path("README.md")  # the repository's: its headline block is the reference leaderboard's
    written = write_report(folder, Path(folder).parent,
                           readme=readme if readme.is_file() and BEGIN in readme.read_text() else None)
    print(f"report: {written['markdown']}, {written['html']} ({written['records']} records, {written['rows']} rows)"
          + (f"; headline written into {readme}" if written["readme"] else ""))
    if failed:
        print(f"qhep: {len(failed)} point(s) failed; run `qhep reference` again to retry them", file=sys.stderr)
        return 1
    return 0


def _tune(args) -> int:
    from qhep.harness.tuning import SELECTED_BY, TUNING_FILE, tune
    from qhep.reporting.tables import print_leaderboard

    try:
        done = tune(args.overrides)
    except KeyboardInterrupt:
        print("qhep: tuning interrupted; finished runs are kept: run the same qhep tune command again to go on",
              file=sys.stderr)
        raise KeyboardInterrupt from None
    tuning = done["tuning"]
    print(f"{tuning['method']}: {len(tuning['candidates'])} configuration(s) tried (budget {tuning['budget']}, "
          f"search {tuning['search']}, grid of {tuning['grid_size']}), on {tuning['events']['validation']['background']}"
          f" background + {tuning['events']['validation']['signal']} signal validation events")
    for candidate in tuning["candidates"]:
        figure = (candidate["validation"] or {}).get(SELECTED_BY)
        shown = " ".join(f"{k}={v}" for k, v in candidate["settings"].items())
        print(f"  {'*' if candidate['index'] == tuning['chosen']['index'] else ' '} {candidate['index']:3d} "
              f"{'default' if candidate['index'] == 0 else '       '} validation AUC "
              f"{'-' if figure is None else format(figure, '.4f')}  {shown}")
    if done["final_records"]:
        print_leaderboard(done["final_records"], sweep=[done["final_state"]["id"]], seeds=True)
    print(f"tuning: {done['search_dir'] / TUNING_FILE}; final runs: {done['final_dir'] / 'sweep.json'}")
    for point in done["failed"]:
        print(f"qhep: failed {point['run_dir']}: {one_line(point['error'])}", file=sys.stderr)
    if done["failed"]:
        print(f"qhep: {len(done['failed'])} run(s) failed (tracebacks in each point's error.log); run the same qhep "
              "tune command again to run them", file=sys.stderr)
        return 1
    return 0


def _print_sweep(sweep_dir, state, records) -> int:
    """The sweep's table and files; with failed points, a line for each and the count: exit code 1."""
    from qhep.harness.sweep import failures
    from qhep.reporting.tables import print_leaderboard

    if records:
        print_leaderboard(records, sweep=[state["id"]])
    plot = sweep_dir / state["plot"]
    print(f"sweep: {sweep_dir / 'sweep.json'}" + (f", {plot}" if plot.exists() else ""))
    failed = failures(state)
    for point in failed:
        print(f"qhep: failed {point['run_dir']}: {one_line(point['error'])}", file=sys.stderr)
    if failed:
        print(f"qhep: {len(records)} done, {len(failed)} failed (tracebacks in each point's error.log); run the "
              f"failed points again with: qhep resume {sweep_dir}", file=sys.stderr)
        return 1
    return 0


def _resume(args) -> int:
    from qhep.harness.resume import folder_kind, resume_run
    from qhep.reporting.tables import print_summary

    folder = Path(args.folder)
    kind = folder_kind(folder)
    if args.overrides and kind != "sweep":
        raise QhepError(f"{args.overrides[0]}: a run resumes with the settings it started with; settings are given "
                        "only to resume a sweep's launcher")
    if kind == "complete":
        print(f"{folder}: complete, nothing to resume (record: {folder / 'result.json'})")
        return 0
    if kind == "sweep":
        from qhep.harness.sweep import resume_sweep

        state, records = resume_sweep(folder, args.overrides)
        return _print_sweep(folder, state, records)
    record, run_dir = resume_run(folder, wait=args.wait)
    print_summary(record, run_dir)
    return 0


def _jobs(args) -> int:
    from qhep.harness.jobs import job_line, job_statuses, summary_line
    from qhep.harness.resume import folder_kind

    folder = Path(args.folder)
    if folder_kind(folder) == "sweep":
        raise QhepError(f"{folder} is a sweep: its jobs are journaled in its points' folders: qhep jobs {folder}/<point>")
    jobs, problem = job_statuses(folder)
    if not jobs:
        print(f"{folder}: no quantum jobs journaled")
        return 0
    for job in jobs:
        print(job_line(job))
    print(summary_line(jobs))
    if problem:
        print(f"qhep: warning: {one_line(problem)}", file=sys.stderr)
    return 0


def _list(args) -> int:
    from rich.table import Table

    from qhep.methods import METHODS
    from qhep.protocols import PROTOCOLS
    from qhep.quantum.backends import BACKENDS
    from qhep.reporting.tables import console
    from qhep.tasks import TASKS, load_card

    table = Table(title="qhep registry")
    for column in ("kind", "name", "offers / runs under", "what"):
        table.add_column(column)
    for name in TASKS:
        table.add_row("task", name, f"views: {', '.join(TASKS[name].views)}", load_card(name)["title"])
    for name, (protocol, _) in PROTOCOLS.items():
        table.add_row("protocol", name, "", _first_sentence(sys.modules[protocol.__module__].__doc__))
    for name, (estimator, _) in METHODS.items():
        kind = "quantum method" if estimator.quantum else "method"
        tasks = [t for t, task in TASKS.items() if estimator.view in task.views
                 and (not estimator.condition or estimator.condition in task.conditions)]
        where = (f"tasks {', '.join(tasks)}; protocol={' or '.join(estimator.protocols)}; view {estimator.view}"
                 + (f", given {estimator.condition}" if estimator.condition else "")
                 + (", any backend" if estimator.quantum else ""))
        doc = estimator.__dict__.get("__doc__") or sys.modules[estimator.__module__].__doc__
        table.add_row(kind, name, where, _first_sentence(doc))
        for configuration, declared in estimator.named_configurations.items():  # published setups, by name
            settings = " ".join(f"{k}={v}" for k, v in declared.settings.items())
            table.add_row("named configuration", f"{name}/{configuration}", f"{declared.source}; {settings}",
                          declared.description)
    for name, backend in BACKENDS.items():
        table.add_row("backend", name, "quantum methods", _first_sentence(type(backend).__doc__))
    console().print(table)
    return 0


def _first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, whole, however its lines wrap."""
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _generate(args) -> int:
    from qhep.generation.constituent_rows import LAYOUTS
    from qhep.generation.darkmachines import generate_darkmachines
    from qhep.generation.lhco import generate_lhco
    from qhep.generation.svj import generate_svj
    from qhep.generation.top import generate_top

    generators = {"lhco": generate_lhco, "top": generate_top, "svj": generate_svj,
                  "darkmachines": generate_darkmachines}
    suffix = {"darkmachines": ".csv.gz"}
    settings = {"task": "lhco", "n_background": 100_000, "n_signal": 10_000, "seed": 2020, "output": None,
                "workers": None, "layout": "published"}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in settings:
            raise QhepError(f"generate: unknown setting {item!r}; valid: {', '.join(settings)}")
        if key in ("n_background", "n_signal", "seed", "workers"):
            if not value.isdigit():
                raise QhepError(f"generate: {key} must be a non-negative integer, got {value!r}")
            settings[key] = int(value)
        else:
            settings[key] = value
    if settings["task"] not in generators:
        raise QhepError(f"generate: unknown task {settings['task']!r}; choose one of: {', '.join(generators)}")
    jets = settings["task"] in ("top", "svj")  # the tasks with a compact layout of their own
    layouts = LAYOUTS if jets else ("published",)
    if settings["layout"] not in layouts:
        raise QhepError(f"generate: layout {settings['layout']!r} for task {settings['task']}; choose one of: "
                        f"{', '.join(layouts)}")
    output = Path(settings["output"] or settings["task"] + suffix.get(settings["task"], ".h5"))
    flow = generators[settings["task"]](output, settings["n_background"], settings["n_signal"], settings["seed"],
                                        workers=settings["workers"], **({"layout": settings["layout"]} if jets else {}))
    for stream, counts in flow.items():
        print(f"{stream}: {counts['selected']} selected of {counts['generated']} generated "
              f"({counts['selected'] / max(counts['generated'], 1):.1%}); {counts['failed']} failed in Pythia")
    print(f"wrote {output}")
    return 0


def _leaderboard(args) -> int:
    from qhep.harness.records import load_records, superseded, tuning_candidate, unfinished_runs
    from qhep.reporting.tables import print_leaderboard, print_unfinished
    from qhep.tasks import TASKS

    if args.task is not None and args.task not in TASKS:
        raise QhepError(f"leaderboard --task: unknown task {args.task!r}; choose one of: {', '.join(TASKS)}")
    if not Path(args.results).is_dir():
        raise QhepError(f"{args.results}: no such results folder")
    records = load_records(args.results)
    if args.sweep is None:  # qhep tune's candidates: chosen among on validation events, shown with --sweep only
        records = [r for r in records if not tuning_candidate(r)]
    old = [r for r in records if superseded(r)]
    if old:
        records = [r for r in records if not superseded(r)]
        print(f"qhep: {len(old)} record(s) made on a superseded embedded sample ({', '.join(sorted({r['task'] for r in old}))}) "
              "left out", file=sys.stderr)
    unfinished = [r for r in unfinished_runs(args.results) if args.task in (None, r["task"])]
    if args.sweep is not None:
        missing = [s for s in args.sweep if not any((r.get("sweep") or {}).get("id") == s for r in records)]
        if missing:
            raise QhepError(f"no records of sweep {missing[0]!r} under {args.results}/")
        print_leaderboard(records, args.task, args.sweep, args.markdown, args.grid, args.seeds)
        if args.plot:
            from qhep.harness.sweep import read_sweep
            from qhep.reporting.sweep_plot import plot_sweeps

            folders = {(r.get("sweep") or {}).get("id"): Path(r["_path"]).parents[1] for r in records}
            plot_sweeps([read_sweep(folders[s]) for s in args.sweep], Path(args.plot), args.x)
            print(f"plot: {args.plot}", file=sys.stderr)
        return 0
    if not records and not unfinished:
        print(f"no result records under {args.results}/ yet: run `qhep run task=lhco method=qae` first")
        return 0
    if args.grid or args.plot:
        raise QhepError(f"leaderboard {'--grid' if args.grid else '--plot'} shows sweeps: give --sweep <id>")
    print_leaderboard(records, args.task, markdown=args.markdown, seeds=args.seeds)
    if unfinished and not args.markdown:
        print_unfinished(unfinished)
    return 0


def _report(args) -> int:
    from qhep.reporting.report import write_report

    done = write_report(args.results, args.out, include_dirty=args.include_dirty, readme=args.readme)
    print(f"{done['records']} record(s) into {done['rows']} row(s)"
          + (f" and {done['dirty_rows']} row(s) from trees with uncommitted changes, listed apart"
             if done["dirty_rows"] else "")
          + (f"; {done['superseded']} on a superseded embedded sample left out" if done["superseded"] else ""))
    print(f"wrote {done['markdown']}")
    print(f"wrote {done['html']}")
    if done["readme"]:
        print(f"wrote the headline into {done['readme']}")
    return 0


def _data(args) -> int:
    if args.data_command == "info":
        from qhep.data.info import print_summary, summarise

        print_summary(summarise(args.path))
        return 0
    from qhep.data.download import download_task

    for item in download_task(args.task, args.dest):
        print(f"{item.path}: {item.status}, {item.size:,} bytes, md5 verified")
    return 0
