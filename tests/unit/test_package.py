import subprocess
import sys

import tunelab


def test_import_is_light() -> None:
    code = (
        "import sys, tunelab, tunelab.config, tunelab.data, tunelab.cli, tunelab.models, tunelab.evaluate, "
        "tunelab.synth, tunelab.scoring, tunelab.generation, tunelab.benchmarks, tunelab.compare, tunelab.ui\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'accelerate', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_api_is_pinned() -> None:
    assert sorted(tunelab.__all__) == ["InputError", "TunelabError", "__version__", "load_config", "train"]
    assert tunelab.__version__


def test_synth_loads_no_evaluation_comparison_or_server_module() -> None:
    """``synth`` sits below ``evaluate``/``compare``/``serve``: importing it must not load them."""
    code = (
        "import sys, tunelab.synth\n"
        "above = [m for m in sys.modules if m.split('.')[:2] in (['tunelab', 'evaluate'], ['tunelab', 'compare'], "
        "['tunelab', 'serve'], ['tunelab', 'train'])]\n"
        "assert not above, above"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_old_benchmarks_path_is_a_deprecated_alias() -> None:
    """``tunelab.data.benchmarks`` still imports for one release, warns, and is the same objects; importing
    ``tunelab.data`` does not load it (so the alias adds no import circle)."""
    code = (
        "import sys, warnings, tunelab.data\n"
        "assert 'tunelab.data.benchmarks' not in sys.modules\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    from tunelab.data.benchmarks import load_benchmark\n"
        "assert any(issubclass(x.category, DeprecationWarning) and 'tunelab.benchmarks' in str(x.message) for x in w)\n"
        "import tunelab.benchmarks\n"
        "assert load_benchmark is tunelab.benchmarks.load_benchmark"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
