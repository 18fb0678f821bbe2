"""TrainConfig: recipes, file/flag layering, validation messages."""

import pytest

from tf_simcse import train as train_cli
from tf_simcse.config import RECIPES_DIR, build_config, load_config_file


@pytest.mark.parametrize("recipe", sorted(p.stem for p in RECIPES_DIR.glob("*.yaml") if "pipeline" not in p.stem))
def test_every_shipped_recipe_validates(recipe, tmp_path):
    config = build_config(load_config_file(recipe), {"model": "m", "output_dir": str(tmp_path)})
    assert config.objective in ("unsup", "sup", "online_contrastive")
    if config.objective in ("unsup", "sup"):
        assert config.temperature == 0.05


def test_paper_defaults():
    unsup = build_config(load_config_file("paper_unsup"), {"model": "m", "output_dir": "o"})
    assert (unsup.batch_size, unsup.learning_rate, unsup.max_seq_length, unsup.pooler, unsup.mlp_only_train) == (
        64, 3e-5, 32, "cls", True)
    sup = build_config(load_config_file("paper_sup"), {"model": "m", "output_dir": "o"})
    assert (sup.batch_size, sup.learning_rate, sup.epochs, sup.objective) == (512, 5e-5, 3, "sup")


def test_flags_override_the_file_and_lists_replace(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("objective: sup\nbatch_size: 8\ntrain_data: [a.tsv, b.tsv]\n")
    parser = train_cli.build_parser()
    args = vars(parser.parse_args(["--config", str(path), "--batch_size", "4", "--train_data", "c.txt",
                                   "--model", "m", "--output_dir", "o", "--symmetric"]))
    args.pop("config")
    config = build_config(load_config_file(path), args)
    assert (config.objective, config.batch_size, config.train_data, config.symmetric) == ("sup", 4, ["c.txt"], True)


def test_unknown_keys_and_bad_files_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("objectiv: sup\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['objectiv'\]"):
        load_config_file(bad)
    with pytest.raises(FileNotFoundError, match="not a shipped recipe"):
        load_config_file("no_such_recipe")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match="cannot parse"):
        load_config_file(broken)


def test_a_config_file_on_a_tensorflow_filesystem_is_read(tmp_path):
    """`--config gs://...` reads through tf.io.gfile; TF's in-memory ram:// stands in for a bucket."""
    from tf_simcse import fileio

    path = f"ram://config_test_{tmp_path.name}/sup.yaml"
    fileio.write_text(path, "objective: sup\nbatch_size: 8\n")
    try:
        assert load_config_file(path) == {"objective": "sup", "batch_size": 8}
        with pytest.raises(FileNotFoundError, match="no such file"):
            load_config_file(path.replace("sup.yaml", "missing.yaml"))
    finally:
        fileio.remove(fileio.dirname(path))


def test_grouped_and_flat_config_files_are_the_same_config(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("model: m\ntrain_data: [a.txt]\noutput_dir: out\nlearning_rate: 1.0e-4\npooler: avg\n"
                    "strategy: cpu\n", encoding="utf-8")
    grouped = tmp_path / "grouped.yaml"
    grouped.write_text("model: {model: m, pooler: avg}\ndata: {train_data: [a.txt]}\n"
                       "optimization: {learning_rate: 1.0e-4}\nhardware: {strategy: cpu}\noutput_dir: out\n",
                       encoding="utf-8")
    assert build_config(load_config_file(grouped)) == build_config(load_config_file(flat))
    misplaced = tmp_path / "misplaced.yaml"
    misplaced.write_text("optimization: {pooler: avg}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'pooler' is not an option of group 'optimization'"):
        load_config_file(misplaced)
    twice = tmp_path / "twice.yaml"
    twice.write_text("seed: 1\noptimization: {seed: 2}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'seed' is given twice"):
        load_config_file(twice)


def test_each_option_is_declared_once_for_help_docs_and_validation():
    """--help, docs/config.md and the choices `validate` checks all come from the field declarations."""
    import dataclasses
    import pathlib

    from tf_simcse.config import GROUPS, TrainConfig, markdown_reference

    fields = dataclasses.fields(TrainConfig)
    assert {f.metadata["group"] for f in fields} == set(GROUPS)
    assert all(f.metadata["help"] for f in fields)
    docs = pathlib.Path(__file__).resolve().parents[1] / "docs" / "config.md"
    assert docs.read_text(encoding="utf-8") == markdown_reference(), "regenerate: python -m tf_simcse.config > docs/config.md"
    parser = train_cli.build_parser()
    helps = {action.dest: action.help for action in parser._actions}
    for field in fields:  # argparse escapes % in help strings
        assert helps[field.name].startswith(field.metadata["help"].replace("%", "%%")), field.name
    titles = [group.title for group in parser._action_groups]
    for group in GROUPS:
        assert f"{group} options" in titles
    with pytest.raises(ValueError, match=r"'precision': 'fp8' is not one of"):
        build_config({"model": "m", "train_data": ["a"], "output_dir": "o", "precision": "fp8"})
