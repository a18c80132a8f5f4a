import subprocess
import sys

import tunelab


def test_import_is_light() -> None:
    code = (
        "import sys, tunelab, tunelab.config, tunelab.data, tunelab.cli, tunelab.models, tunelab.evaluate, "
        "tunelab.synth\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'accelerate', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_api_is_pinned() -> None:
    assert sorted(tunelab.__all__) == ["InputError", "TunelabError", "__version__", "load_config", "train"]
    assert tunelab.__version__
