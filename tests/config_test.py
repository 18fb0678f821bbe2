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
