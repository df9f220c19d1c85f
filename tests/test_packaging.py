"""A regular (non-editable) install carries the task cards from tasks/ and the embedded sample."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_task_cards_and_sample(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("qhep-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for card in (ROOT / "tasks").glob("*.yaml"):
        assert f"qhep/task_cards/{card.name}" in names
    assert "qhep/samples/lhco.h5" in names
    assert not any(name.startswith("tasks/") for name in names)
    # pyproject lists the packages by name: a new subpackage left out would install broken
    for package in (ROOT / "qhep").rglob("__init__.py"):
        assert package.relative_to(ROOT).as_posix() in names
