"""The prepared device script (scripts/gpu_generate_check.py): its CPU-side logic on the tiny VL model, and on
CUDA (gpu tier) the compiled static-cache path against the dynamic one on a small model of the 7B shape."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_generate_check.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_generate_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_reports_dynamic_figures_even_when_the_compiled_path_fails(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _script().main(["--tiny", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_generate.json").read_text())
    runs = {(r["mode"], r["questions"]): r for r in report["runs"]}
    assert set(runs) == {("dynamic", 1), ("dynamic", 2)}
    for r in runs.values():
        assert r["rows"] == 2 * r["questions"] and r["new_tokens"] == 4 * r["rows"]  # ignore_eos: fixed lengths
        assert r["chains_per_s"] > 0 and r["new_tokens_per_s"] > 0 and r["per_step_ms"] >= 0
    # on CPU the static path is refused with a clear error, recorded per run instead of aborting the script
    assert [e["mode"] for e in report["errors"]] == ["static_compiled", "static_compiled"]
    assert all("CUDA" in e["error"] for e in report["errors"])
    assert "SUMMARY " in capsys.readouterr().out


def test_it_computes_speedups_per_question_count() -> None:
    runs = [{"mode": "dynamic", "questions": 4, "chains_per_s": 1.0, "per_step_ms": 80.0},
            {"mode": "static_compiled", "questions": 4, "chains_per_s": 3.0, "per_step_ms": 20.0},
            {"mode": "static_compiled", "questions": 1, "chains_per_s": 2.0, "per_step_ms": 10.0}]
    assert _script().ratios(runs) == {"q4_chains_per_s_speedup": 3.0, "q4_per_step_speedup": 4.0}


@pytest.mark.gpu
def test_it_runs_the_compiled_static_path_on_cuda(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.fail("the gpu tier needs a CUDA device")
    args = ["--text-layers", "2", "--vision-depth", "2", "--questions", "2", "--k", "4", "--new-tokens", "16",
            "--frames", "4", "--size", "112", "--out", str(tmp_path)]
    assert _script().main(args) == 0
    report = json.loads((tmp_path / "gpu_generate.json").read_text())
    assert not report["errors"], report["errors"]
    assert {r["mode"] for r in report["runs"]} == {"dynamic", "static_compiled"}
