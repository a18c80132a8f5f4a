from pathlib import Path

import pytest
import yaml

from tunelab.config import Config, apply_overrides, config_from_dict, config_to_dict, dump_config, load_config
from tunelab.errors import InputError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_resolve_and_dump_round_trip(tmp_path: Path) -> None:
    cfg = load_config(None)
    out = tmp_path / "run" / "config.yaml"
    dump_config(cfg, out)
    dumped = yaml.safe_load(out.read_text())
    # every default is written out, and the dump loads back to the same config
    assert dumped["train"]["lr"] == cfg.train.lr
    assert set(dumped) == {
        "run_name",
        "output_dir",
        "model",
        "data",
        "train",
        "lora",
        "eval",
        "synth",
        "compare",
    }
    assert load_config(out) == cfg


def test_yaml_and_overrides(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "train:\n  lr: 0.01\n  max_steps: 5\ndata:\n  sources:\n    - task: fin_sentiment\n      n: 20\n",
    )
    cfg = load_config(p, ["--train.max_steps=7", "model.dtype=bfloat16", "train.report_to=[tensorboard]"])
    assert cfg.train.lr == 0.01
    assert cfg.train.max_steps == 7
    assert cfg.model.dtype == "bfloat16"
    assert cfg.train.report_to == ["tensorboard"]
    assert cfg.data.sources[0].task == "fin_sentiment" and cfg.data.sources[0].n == 20


def test_int_widens_to_float() -> None:
    cfg = load_config(None, ["train.lr=1"])
    assert isinstance(cfg.train.lr, float)


def test_unknown_key_names_key_and_closest(tmp_path: Path) -> None:
    p = write(tmp_path, "train:\n  learning_rate: 0.1\n")
    with pytest.raises(InputError) as e:
        load_config(p)
    msg = str(e.value)
    assert str(p) in msg and "train.learning_rate" in msg and "unknown key" in msg


def test_unknown_key_suggests_closest() -> None:
    with pytest.raises(InputError) as e:
        load_config(None, ["train.max_step=3"])
    assert "did you mean 'train.max_steps'" in str(e.value)


def test_unknown_section() -> None:
    with pytest.raises(InputError) as e:
        load_config(None, ["trian.lr=3"])
    assert "trian" in str(e.value) and "did you mean 'train'" in str(e.value)


@pytest.mark.parametrize(
    "override,key,expected",
    [
        ("train.max_steps=abc", "train.max_steps", "int"),
        ("train.compile=3", "train.compile", "bool"),
        ("model.dtype=float64", "model.dtype", "'float32'"),
        ("train.report_to=tensorboard", "train.report_to", "list[str]"),
        ("data.sources=[{task: x, n: many}]", "data.sources[0].n", "int"),
    ],
)
def test_wrong_type_names_key_value_and_type(override: str, key: str, expected: str) -> None:
    with pytest.raises(InputError) as e:
        load_config(None, [override])
    msg = str(e.value)
    assert key in msg and expected in msg


def test_cross_field_validation() -> None:
    with pytest.raises(InputError, match="train.max_steps"):
        load_config(None, ["train.max_steps=0"])


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    p = write(tmp_path, "train:\n  lr: [1,\n")
    with pytest.raises(InputError) as e:
        load_config(p)
    assert str(p) in str(e.value) and "invalid YAML" in str(e.value)


def test_missing_file() -> None:
    with pytest.raises(InputError, match="no such config file"):
        load_config("/nonexistent/c.yaml")


def test_apply_overrides_requires_equals() -> None:
    with pytest.raises(InputError):
        apply_overrides({}, ["train.lr"])


def test_config_to_dict_is_plain() -> None:
    d = config_to_dict(Config())
    assert isinstance(d["data"]["sources"], list)
    yaml.safe_dump(d)  # plain types only


def test_float_written_without_a_dot() -> None:
    assert load_config(None, ["train.lr=3e-4"]).train.lr == 3e-4
    with pytest.raises(InputError, match="train.lr"):
        load_config(None, ["train.lr=fast"])


def test_a_removed_key_loads_with_a_deprecation_warning_and_does_nothing() -> None:
    """``eval.suites`` was never read; a config that sets it still loads for one release, and says so."""
    with pytest.warns(DeprecationWarning, match=r"eval\.suites .*ignored.*tunelab eval"):
        cfg = config_from_dict({"eval": {"suites": ["finqa"], "batch_size": 4}})
    assert cfg.eval.batch_size == 4
    assert "suites" not in config_to_dict(cfg)["eval"]
