"""`qhep report`: comparable rows over seeds, dirty records apart, ranks, twins, published figures, Markdown and
HTML files, and one line for a damaged record. Records are one tiny real run's, copied with edited figures."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from tests.conftest import lhco_frame


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The record of one tiny real `ae` run on a small LHCO-layout file."""
    from qhep.cli import main

    folder = tmp_path_factory.mktemp("base")
    data = folder / "events_anomalydetection_v2.features.h5"
    lhco_frame().to_hdf(data, key="df", mode="w", format="fixed")
    assert main(["run", "method=ae", f"task.data.path={data}", f"results_dir={folder / 'results'}",
                 "method.epochs=2", "task.region=all", "progress=false", "bootstrap=20"]) == 0
    (path,) = (folder / "results").rglob("result.json")
    return json.loads(path.read_text())


def variant(base: dict, method: str = "ae", seed: int = 0, auc: float | None = None, task: str = "lhco",
            dirty: bool = False, backend: str | None = None, settings: dict | None = None, **edits) -> dict:
    """A copy of the real record as another run: its method (and settings), seed, task, AUC, commit."""
    record = copy.deepcopy(base)
    record.update(method=method, seed=seed, task=task, backend=backend)
    record["config"]["seed"], record["config"]["task"]["name"] = seed, task
    if method != "ae" or settings:
        record["config"]["method"] = {"name": method, **(settings or {})}
    if backend:
        record["config"]["backend"] = {"name": backend, "seed": None}
    if auc is not None:
        record["metrics"]["auc"] = auc
    commit = record["environment"].get("git_commit") or "0" * 40
    record["environment"]["git_commit"] = commit.removesuffix("-dirty") + ("-dirty" if dirty else "")
    record.update(edits)
    return record


def write(results, records: list[dict]):
    for i, record in enumerate(records):
        folder = results / "runs" / f"r{i:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.json").write_text(json.dumps(record))


def build(records, **options):
    from qhep.reporting.leaderboard import build as make

    return make(records, **options)


def test_seeds_of_one_configuration_are_one_row(base):
    report = build([variant(base, seed=0, auc=0.70), variant(base, seed=1, auc=0.80)])
    (row,) = report.tasks["lhco"].rows
    assert row.n == 2 and row.run_seeds == (0, 1)
    assert row.figures["auc"]["mean"] == pytest.approx(0.75)
    assert row.figures["auc"]["std"] == pytest.approx(np.sqrt(2 * 0.05**2))  # sample std, by hand: 0.0707


def test_other_data_or_settings_never_share_a_row(base):
    other_data = variant(base, seed=1, dataset={**base["dataset"], "sha256": "f" * 64})
    other_settings = variant(base, seed=1, settings={**base["config"]["method"], "latent_dim": 3})
    report = build([variant(base), other_data, other_settings])
    rows = report.tasks["lhco"].rows
    assert len(rows) == 3 and all(r.n == 1 for r in rows)
    assert any("latent_dim=3" in r.label for r in rows)


def test_dirty_records_are_kept_out_and_marked(base):
    from qhep.reporting import report_cells

    records = [variant(base, auc=0.7), variant(base, method="pca", auc=0.9, dirty=True)]
    task = build(records).tasks["lhco"]
    assert [r.method for r in task.rows] == ["ae"] and task.rows[0].rank == 1
    assert [r.method for r in task.dirty] == ["pca"] and task.dirty[0].rank is None
    assert report_cells.DIRTY_MARK in report_cells.method_cell(task.dirty[0])
    included = build(records, include_dirty=True).tasks["lhco"]
    assert [(r.method, r.rank, r.dirty) for r in included.rows] == [("pca", 1, True), ("ae", 2, False)]


def test_ranks_per_task_and_average_rank(base):
    records = [variant(base, method="ae", auc=0.8), variant(base, method="kde", auc=0.8),
               variant(base, method="pca", auc=0.7),
               variant(base, method="ae", auc=0.6, task="top"), variant(base, method="pca", auc=0.7, task="top")]
    report = build(records)
    assert {r.method: r.rank for r in report.tasks["lhco"].rows} == {"ae": 1, "kde": 1, "pca": 3}
    assert {r.method: r.rank for r in report.tasks["top"].rows} == {"pca": 1, "ae": 2}
    # by hand: kde 1 (one task), ae (1 + 2) / 2, pca (3 + 1) / 2
    assert [(s["method"], s["average"], s["tasks"]) for s in report.summary] == [
        ("kde", 1.0, 1), ("ae", 1.5, 2), ("pca", 2.0, 2)]


def test_quantum_against_its_classical_twin(base):
    qsvm = {"name": "qsvm", "nu": 0.1, "n_train": 600}
    records = [variant(base, seed=s, auc=a) for s, a in ((0, 0.70), (1, 0.80))]
    records += [variant(base, method="qae", backend="fast", seed=s, auc=a) for s, a in ((0, 0.72), (1, 0.78))]
    records += [variant(base, method="qsvm", backend="fast", settings=qsvm, auc=0.6)]
    records += [variant(base, method="ocsvm", settings={"name": "ocsvm", "nu": 0.5, "max_train_events": 5000},
                        auc=0.65)]
    task = build(records).tasks["lhco"]
    assert {r.method: r.quantum for r in task.rows} == {"ae": False, "qae": True, "qsvm": True, "ocsvm": False}
    (twin,) = [line for line in task.twins if "twin ae" in line]
    # paired by seed: +0.02 and -0.02: mean 0, sample std 0.028
    assert twin.startswith("qae [fast]") and "+0.000±0.028 over 2 paired seed(s)" in twin
    # an ocsvm with other settings is no twin: the inputs differ
    assert any(line.startswith("qsvm [fast]") and "no twin run (ocsvm (nu=0.1, max_train_events=600)" in line
               for line in task.twins)
    (best,) = task.best
    assert "best quantum: qae [fast]" in best and "best classical: ae" in best and "difference of the means" in best


def test_published_figures_from_the_cards(base):
    from qhep.reporting.report_cells import published_table

    report = build([variant(base), variant(base, task="top"), variant(base, task="darkmachines")])
    headers, rows, _ = published_table(report.tasks["lhco"].published)
    assert headers == ["published model", "max SIC"] and ["cathode", "13.99"] in rows
    headers, rows, lines = published_table(report.tasks["top"].published)
    assert headers[:2] == ["published model", "AUC"] and rows[0][:2] == ["lorentznet", "0.987"]
    assert any(line.startswith("note: fully supervised") for line in lines)
    headers, rows, _ = published_table(report.tasks["darkmachines"].published)
    assert ["SimpleAE", "0.2 / 0.98 / 39.6"] in rows


def test_total_improvement_over_channels(base):
    from qhep.reporting.leaderboard import darkmachines_ti

    def dm(signal, channel, max_si):
        record = variant(base, task="darkmachines")
        record["config"]["task"].update(channel=channel, signal=signal)
        record["metrics"]["max_si"] = max_si
        return record

    found = darkmachines_ti([dm("a", "1", 2.0), dm("a", "2", 3.0), dm("b", "1", 1.0)])
    (entry,) = found["rows"]  # one configuration: only channel and signal differ
    assert (entry["min"], entry["median"], entry["max"], entry["signals"]) == (1.0, 2.0, 3.0, 2)


def test_report_writes_markdown_and_html(tmp_path, base, cli):
    write(tmp_path / "results", [variant(base, seed=0, auc=0.70), variant(base, seed=1, auc=0.80),
                                 variant(base, method="qae", backend="fast", auc=0.76),
                                 variant(base, method="pca", auc=0.9, dirty=True)])
    code, out, err = cli("report", "--results", tmp_path / "results", "--out", tmp_path / "out")
    assert code == 0, err
    assert "4 record(s) into 2 row(s) and 1 row(s) from trees with uncommitted changes" in out
    markdown = (tmp_path / "out" / "LEADERBOARD.md").read_text()
    # the tiny sample is below the task's minimum: every row is marked "!"
    assert "| 1 | qae [fast] ! | 1 | 0.760" in markdown
    assert "| 2 | ae ! | 2 | 0.750±0.071" in markdown
    assert "| - | pca † ! | 1 | 0.900" in markdown.split("uncommitted changes †")[-1]
    assert "(leaderboard-plots/lhco-curves.png)" in markdown and (tmp_path / "out" / "leaderboard-plots").is_dir()
    page = (tmp_path / "out" / "leaderboard.html").read_text()
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page


def test_a_damaged_record_is_one_line_naming_it(tmp_path, base, cli):
    write(tmp_path / "a", [variant(base)])
    bad = tmp_path / "a" / "runs" / "r000" / "result.json"
    bad.write_text("{")
    code, _, err = cli("report", "--results", tmp_path / "a", "--out", tmp_path / "out")
    assert code == 2 and str(bad) in err and len(err.strip().splitlines()) == 1
    write(tmp_path / "b", [variant(base, config="not settings")])
    code, _, err = cli("report", "--results", tmp_path / "b", "--out", tmp_path / "out")
    assert code == 2 and "r000/result.json: damaged result record" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_headline_goes_into_the_readmes_marked_block(base, tmp_path):
    from qhep.reporting.report_markdown import BEGIN, END, headline, update_readme

    from omegaconf import OmegaConf

    from qhep.methods.autoencoder import AutoencoderConfig

    default = OmegaConf.to_container(OmegaConf.structured(AutoencoderConfig))
    report = build([variant(base, seed=0, auc=0.70, settings=default), variant(base, seed=1, auc=0.80, settings=default),
                    variant(base, seed=0, auc=0.90, settings={**default, "latent_dim": 7})])
    text = headline(report)
    header, rule, row, *_ = text.splitlines()
    assert header == "| method | lhco | average rank |"  # only the default-settings row: not latent_dim=7's
    assert row.startswith("| ae | 0.750±0.071") and row.endswith("(2) ! | 1.00 |")  # the tiny sample is below the minimum
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{BEGIN}\nstale\n{END}\nafter\n")
    assert update_readme(readme, report)
    assert readme.read_text() == f"# x\n{BEGIN}\n{text}\n{END}\nafter\n"
    readme.write_text("no markers\n")
    assert not update_readme(readme, report) and readme.read_text() == "no markers\n"


def test_rows_on_another_test_set_or_with_noise_follow_unranked(base):
    subsample = copy.deepcopy(base["config"])
    subsample["test_events"] = 100
    held_out = copy.deepcopy(base["config"])
    held_out["protocol"]["validation_fraction"] = 0.25
    report = build([variant(base, seed=0, auc=0.70), variant(base, method="pca", auc=0.60),
                    variant(base, method="pca", auc=0.95, config=subsample),
                    variant(base, method="qae", backend="aer", auc=0.99),
                    variant(base, method="kmeans", auc=0.90, config=held_out)])
    rows = report.tasks["lhco"].rows
    assert [(r.method, r.rank) for r in rows] == [("ae", 1), ("pca", 2), ("qae", None), ("pca", None),
                                                  ("kmeans", None)]
    assert {s["method"]: s["ranks"]["lhco"] for s in report.summary} == {"ae": 1, "pca": 2}
