"""Prepare one of the tfds_builders datasets, from local copies of the upstream files or by downloading them.

    python -m tfds_builders.prepare kornli_triplets/xnli --manual_dir ../shared/data/kornli --data_dir ~/tfds
    python -m tfds_builders.prepare korsts --manual_dir ../shared/data/korsts --splits train,dev
    python -m tfds_builders.prepare korsts                      # downloads the upstream files

With `--manual_dir`, the upstream files are read from there (under their upstream names), and a missing one is an
error that names every file expected there and its URL; `--download` downloads the missing ones instead. Without
`--manual_dir`, everything is downloaded. This is the same as `tfds build`, which needs apache_beam installed;
this module needs only tensorflow-datasets.
After preparing, the library reads the data as `tfds:NAME[/CONFIG]:SPLIT` (with the same data dir).
"""

import argparse
import contextlib
import json
import os
import sys

import tensorflow_datasets as tfds

import tfds_builders


def _builder_class(name, config):
    if "/" in name:
        name, _, name_config = name.partition("/")
        if config is not None and config != name_config:
            raise ValueError(f"dataset {name}/{name_config}: the config is also given as {config!r}")
        config = name_config
    if name not in tfds_builders.BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(tfds_builders.BUILDERS)}")
    builder_class = tfds_builders.BUILDERS[name]
    configs = [c.name for c in builder_class.BUILDER_CONFIGS]
    if config is not None and config not in configs:
        known = f"one of {', '.join(configs)}" if configs else "none (it has no configs)"
        raise ValueError(f"dataset {name!r} has no config {config!r}; choose {known}")
    return builder_class, config


def prepare(name, data_dir=None, manual_dir=None, config=None, splits=None, download=None):
    """Downloads (or reads from `manual_dir`) and prepares one dataset.

    Args:
        name: a dataset of `tfds_builders.BUILDERS`, optionally with its config (`kornli_triplets/xnli`).
        data_dir: the TFDS data directory (default: TFDS's own, `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        manual_dir: a directory holding local copies of the upstream files under their upstream names (see the
            dataset's `MANUAL_DOWNLOAD_INSTRUCTIONS`).
        config: the builder config (default: the dataset's default config).
        splits: prepare only these splits (e.g. `["train", "dev"]` when only those upstream files are at hand);
            default all. A dataset prepared with a subset has only those splits; preparing it again with more
            splits rebuilds it.
        download: download the upstream files not found in `manual_dir`. Default: only when no `manual_dir` is
            given, so that an offline preparation with files missing fails at once, naming them.

    Returns:
        The prepared `tfds.core.DatasetBuilder`; `builder.info.metadata` holds the counts recorded while reading
        (rows skipped, premises grouped, duplicates dropped), where the dataset records any.

    Raises:
        ValueError: an unknown dataset or config, or an upstream file that does not parse.
        FileNotFoundError: `manual_dir` does not exist, or lacks upstream files and `download` is off (the
            message lists them with their URLs).
        RuntimeError: a file could not be downloaded (the message says which).
    """
    builder_class, config = _builder_class(name, config)
    if manual_dir is not None:
        manual_dir = os.path.expanduser(os.fspath(manual_dir))
        if not os.path.isdir(manual_dir):
            raise FileNotFoundError(f"manual_dir {manual_dir} is not a directory")
    if data_dir is not None:
        data_dir = os.path.expanduser(os.fspath(data_dir))
    if download is None:
        download = manual_dir is None
    builder = builder_class(config=config, data_dir=data_dir, splits=splits, download_missing=download)
    mode = tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    if builder.is_prepared() and not set(builder.requested_splits()) <= set(builder.info.splits.keys()):
        # An earlier prepare made fewer splits (splits=...): TFDS would call the dataset done; build it again.
        mode = tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS
    # try_download_gcs=False: these datasets are not on TFDS's bucket, and asking needs the network.
    download_config = tfds.download.DownloadConfig(
        manual_dir=manual_dir, download_mode=mode, try_download_gcs=False
    )
    builder.download_and_prepare(download_config=download_config)
    return builder


def summary(builder):
    """A JSON-able description of a prepared dataset: where it is, its splits' sizes and its recorded counts."""
    return {
        "name": builder.info.full_name,
        "data_dir": os.fspath(builder.data_dir),
        "splits": {split: info.num_examples for split, info in builder.info.splits.items()},
        "metadata": dict(builder.info.metadata or {}),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tfds_builders.prepare",
        description="Prepare a tfds_builders dataset (offline from --manual_dir, or by downloading).",
    )
    parser.add_argument("name", help=f"NAME[/CONFIG]; NAME one of: {', '.join(tfds_builders.BUILDERS)}")
    parser.add_argument("--manual_dir", help="directory with local copies of the upstream files (upstream names)")
    parser.add_argument(
        "--download",
        action="store_true",
        help="with --manual_dir: download the upstream files missing there (default: name them and stop)",
    )
    parser.add_argument("--data_dir", help="TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    parser.add_argument("--config", help="builder config (default: the dataset's default; or NAME/CONFIG)")
    parser.add_argument("--splits", help="comma-separated splits to prepare (default: all), e.g. train,dev")
    args = parser.parse_args(argv)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()] if args.splits else None
    try:
        # TFDS reports progress on stdout; keep stdout for the JSON summary.
        with contextlib.redirect_stdout(sys.stderr):
            builder = prepare(
                args.name,
                data_dir=args.data_dir,
                manual_dir=args.manual_dir,
                config=args.config,
                splits=splits,
                download=args.download or args.manual_dir is None,
            )
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary(builder), indent=2, ensure_ascii=False))  # The summary is the only stdout output.
    return 0


if __name__ == "__main__":
    sys.exit(main())
