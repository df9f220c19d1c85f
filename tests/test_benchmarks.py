"""The asv suite is discoverable and importable (its timings are asv's business, not the tests')."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_asv_finds_the_benchmarks():
    done = subprocess.run([sys.executable, "-m", "asv", "check", "-E", f"existing:{sys.executable}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


def _suite():
    """Every benchmark of the suite: (name, function, its class)."""
    import importlib
    import inspect

    sys.path.insert(0, str(ROOT))
    try:
        found = []
        for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(f"benchmarks.{path.stem}")
            for cls_name, cls in vars(module).items():
                if cls_name.startswith("_") or not inspect.isclass(cls) or cls.__module__ != module.__name__:
                    continue
                for name, fn in vars(cls).items():
                    if name.startswith(("time_", "peakmem_", "track_", "mem_")):
                        found.append((f"{path.stem}.{cls_name}.{name}", fn, cls))
                for base in cls.__mro__[1:]:  # inherited benchmarks (the physics classes share one base)
                    for name, fn in vars(base).items():
                        if name.startswith("track_") and name not in vars(cls):
                            found.append((f"{path.stem}.{cls_name}.{name}", fn, cls))
        return found
    finally:
        sys.path.remove(str(ROOT))


def test_every_benchmark_has_a_pinned_version_and_track_benchmarks_a_unit():
    suite = _suite()
    assert any(name.startswith("bench_physics.PhysicsLhco.track_one_minus_auc") for name, _, _ in suite)
    for name, fn, cls in suite:
        assert getattr(fn, "version", getattr(cls, "version", None)), f"{name}: no pinned version"
        if name.rsplit(".", 1)[1].startswith("track_"):
            assert getattr(fn, "unit", None), f"{name}: no unit"


def test_physics_figures_are_lower_is_better():
    for name, fn, _ in _suite():
        if name.startswith("bench_physics."):
            assert "lower is better" in fn.unit, name


def test_physics_setup_cache_runs_methods_at_a_quick_size(monkeypatch):
    """The physics setup_cache at a tiny size: figures in lower-is-better forms, NaN for an unknown method."""
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import bench_physics
    finally:
        sys.path.remove(str(ROOT))
    monkeypatch.setattr(bench_physics, "COMMON", [o for o in bench_physics.COMMON if "max_train" not in o]
                        + ["protocol.max_train_events=300", "test_events=600", "no_such_setting=1"])
    figures = bench_physics.measure("lhco", ["pca", "no-such-method"])
    pca = figures["pca"]
    assert 0 < pca["one_minus_auc"] < 1 and 0 < pca["eps_b_at_eps_s_0_3"] <= 1 and 0 < pca["inverse_max_sic"]
    missing = figures["no-such-method"]
    assert all(missing[key] != missing[key] for key in bench_physics.FIGURES)  # NaN: asv records it as missing
    assert "unknown method" in missing["error"]
    bench = bench_physics.PhysicsLhco()
    assert bench.track_one_minus_auc(figures, "pca") == pca["one_minus_auc"]
