"""What the builders share: citations and licenses, and finding each upstream file in the manual dir or online.

Every builder names its upstream files by URL. `upstream_files` resolves them one by one: a file whose upstream
name (the last URL component, e.g. `xnli.dev.ko.tsv`) is in the TFDS manual dir
(`tfds.download.DownloadConfig(manual_dir=...)`) is read from there, anything else is downloaded -- unless the
builder was made with `download_missing=False` (what `python -m tfds_builders.prepare --manual_dir DIR` does
without `--download`): then a missing file is an error naming every file expected in the manual dir and its URL,
at once, instead of download retries that cannot succeed offline. Both paths end in the same parser, so a dataset
prepared offline is the dataset prepared from a download. A local copy of a file whose size and sha256 are
recorded in the builder's `checksums.tsv` must match them, as a download must.
"""

import hashlib
import logging

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

logger = logging.getLogger(__name__)

CC_BY_SA_4 = "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)"
CC_BY_SA_3 = "CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/)"

KORNLU_HOMEPAGE = "https://github.com/kakaobrain/KorNLUDatasets"
KORNLU_CITATION = """\
@inproceedings{ham-etal-2020-kornli,
  title     = {{KorNLI} and {KorSTS}: New Benchmark Datasets for {K}orean Natural Language Understanding},
  author    = {Ham, Jiyeon and Choe, Yo Joong and Park, Kyubyong and Choi, Ilji and Soh, Hyungjoon},
  booktitle = {Findings of the Association for Computational Linguistics: EMNLP 2020},
  year      = {2020},
  url       = {https://arxiv.org/abs/2004.03289}
}"""
# The commit that the KorNLUDatasets URLs are pinned to. The sha256 of the KorSTS train/dev and KorNLI XNLI
# dev/test copies in the workplace's shared/data match the ones recorded for this commit by tfds-korean 0.4.0.
KORNLU_COMMIT = "0df0fe7d496eb61b092e022e238c2230b29f1cbc"
KORNLU_RAW = f"https://raw.githubusercontent.com/kakaobrain/KorNLUDatasets/{KORNLU_COMMIT}"

KLUE_HOMEPAGE = "https://github.com/KLUE-benchmark/KLUE"
KLUE_CITATION = """\
@inproceedings{park2021klue,
  title     = {{KLUE}: {K}orean Language Understanding Evaluation},
  author    = {Park, Sungjoon and Moon, Jihyung and Kim, Sungdong and Cho, Won Ik and Han, Jiyoon and
               Park, Jangwon and Song, Chisung and Kim, Junseong and Song, Yongsook and Oh, Taehwan and
               Lee, Joohong and Oh, Juhyun and Lyu, Sungwon and Jeong, Younghoon and Lee, Inkwon and
               Seo, Sangwoo and Lee, Dongjun and Kim, Hyunwoo and Lee, Myeonghwa and Jang, Seongbo and
               Do, Seungwon and Kim, Sunkyoung and Lim, Kyungtae and Lee, Jongwon and Park, Kyumin and
               Shin, Jamin and Kim, Seonghyun and Park, Lucy and Oh, Alice and Ha, Jung-Woo and Cho, Kyunghyun},
  booktitle = {Proceedings of the Neural Information Processing Systems Track on Datasets and Benchmarks},
  year      = {2021},
  url       = {https://arxiv.org/abs/2105.09680}
}"""
# A commit of KLUE-benchmark/KLUE that holds the v1.1 release files.
KLUE_COMMIT = "1cc52e64c0e0b6915577244f7439c55a42199a64"
KLUE_RAW = f"https://raw.githubusercontent.com/KLUE-benchmark/KLUE/{KLUE_COMMIT}/klue_benchmark"

SIMCSE_HOMEPAGE = "https://github.com/princeton-nlp/SimCSE"
SIMCSE_CITATION = """\
@inproceedings{gao2021simcse,
  title     = {{SimCSE}: Simple Contrastive Learning of Sentence Embeddings},
  author    = {Gao, Tianyu and Yao, Xingcheng and Chen, Danqi},
  booktitle = {Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing},
  year      = {2021},
  url       = {https://arxiv.org/abs/2104.08821}
}"""
# The Hugging Face dataset repository that SimCSE's data/download_*.sh fetch from, pinned to its first commit
# ("init"), which added both files; later commits only added senteval.tar.
SIMCSE_DATA_COMMIT = "d0065b9a050f8aa53170ab639f5a1f3c643fa9ef"
SIMCSE_DATA_URL = f"https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse/resolve/{SIMCSE_DATA_COMMIT}"


def upstream_name(url):
    """The file name a URL serves (its last path component): the name expected in the manual dir."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def manual_dir_instructions(urls, extra=""):
    """The text of `MANUAL_DOWNLOAD_INSTRUCTIONS` for a builder reading `urls`."""
    lines = "\n".join(f"  * `{upstream_name(u)}` from {u}" for u in urls)
    return (
        "Optional: to prepare without network access, put local copies of the upstream files, under their "
        f"upstream names, in the manual dir (`DownloadConfig(manual_dir=...)`); files not found there are "
        f"downloaded.\n{lines}\n{extra}"
    )


def _manual_dir(dl_manager):
    """The manual dir if one exists and is non-empty, else None (TFDS raises for a missing or empty one)."""
    try:
        return epath.Path(dl_manager.manual_dir)
    except (AssertionError, ValueError):
        return None


def _sha256_and_size(path):
    digest = hashlib.sha256()
    size = 0
    with epath.Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_local_copy(builder, url, path):
    """A local copy of a file with recorded checksums must be that file, byte for byte."""
    expected = (type(builder).url_infos or {}).get(url)
    if expected is None:
        return
    sha256, size = _sha256_and_size(path)
    if sha256 != expected.checksum or size != int(expected.size):
        raise ValueError(
            f"{path}: this local copy is not the upstream file {url}: size {size} and sha256 {sha256}, expected "
            f"{int(expected.size)} and {expected.checksum} (recorded in {type(builder)._checksums_path}). Put the "
            "unmodified upstream file in the manual dir, or remove it to download."
        )


def _missing_files_error(builder, dl_manager, urls):
    """The error for upstream files absent from the manual dir when downloading was not asked for."""
    # TFDS keeps the configured manual dir privately; it is only used to name the directory in the message.
    manual_dir = getattr(dl_manager, "_manual_dir", None)
    where = f"the manual dir {manual_dir}" if manual_dir else "the manual dir"
    files = "; ".join(f"{upstream_name(u)} (from {u})" for u in urls)
    return FileNotFoundError(
        f"{builder.name}: {where} lacks {files}. Put these files there under these names, or allow downloading "
        "them (`python -m tfds_builders.prepare ... --download`, or `download_missing=True`)."
    )


def _download(builder, dl_manager, urls, extract=False):
    try:
        if extract:
            return dl_manager.download_and_extract(urls)
        return dl_manager.download(urls)
    except Exception as e:  # Network, HTTP and checksum errors all get the same hint on working offline.
        names = ", ".join(upstream_name(u) for u in urls.values())
        raise RuntimeError(
            f"{builder.name}: could not download {names} ({type(e).__name__}: {e}). To prepare the dataset without "
            "network access, put the upstream files in a manual dir: "
            f"`python -m tfds_builders.prepare {builder.name} --manual_dir DIR` or "
            "`download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=DIR))`."
        ) from e


def upstream_files(builder, dl_manager, urls):
    """Resolves `{key: url}` to `{key: epath.Path}`: local copies from the manual dir, the rest downloaded."""
    manual = _manual_dir(dl_manager)
    paths, missing = {}, {}
    for key, url in urls.items():
        local = manual / upstream_name(url) if manual is not None else None
        if local is not None and local.is_file():
            _check_local_copy(builder, url, local)
            logger.info("%s: reading %s from the manual dir (%s)", builder.name, upstream_name(url), local)
            paths[key] = local
        else:
            missing[key] = url
    if missing and not builder.download_missing:
        raise _missing_files_error(builder, dl_manager, missing.values())
    if missing:
        downloaded = _download(builder, dl_manager, missing)
        paths.update({key: epath.Path(downloaded[key]) for key in missing})
    return paths


def upstream_archive(builder, dl_manager, url, extracted_name):
    """Resolves an archive URL to the directory it extracts to.

    The manual dir may hold the archive under its upstream name (extracted by TFDS) or its extracted folder
    `extracted_name`; otherwise the archive is downloaded and extracted.
    """
    manual = _manual_dir(dl_manager)
    if manual is not None:
        if (manual / extracted_name).is_dir():
            logger.info("%s: reading the extracted %s from the manual dir", builder.name, extracted_name)
            return manual
        archive = manual / upstream_name(url)
        if archive.is_file():
            _check_local_copy(builder, url, archive)
            return epath.Path(dl_manager.extract(archive))
    if not builder.download_missing:
        raise _missing_files_error(builder, dl_manager, [url])
    return epath.Path(_download(builder, dl_manager, {"archive": url}, extract=True)["archive"])


class BuilderBase(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A generator-based builder that can prepare a subset of its splits (`splits=("train", "dev")`).

    Preparing a subset is for the case where only some upstream files are at hand (the workplace's shared data
    holds KorSTS train and dev, not test): `tfds.builder(name, splits=[...])` or
    `tfds_builders.prepare.prepare(name, splits=[...])`. The prepared dataset then has those splits only, and
    TFDS treats it as prepared: `prepare` with more splits rebuilds it (by hand:
    `download_mode=tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS`).

    `download_missing=False` makes an upstream file missing from the manual dir an error that lists the files
    expected there, instead of a download (for offline preparation).
    """

    def __init__(self, *, splits=None, download_missing=True, **kwargs):
        if isinstance(splits, str):
            splits = (splits,)
        self._only_splits = None if splits is None else tuple(splits)
        self.download_missing = bool(download_missing)
        super().__init__(**kwargs)

    def available_splits(self):
        """The names of the splits this builder (with its config) generates."""
        raise NotImplementedError

    def requested_splits(self):
        """The splits to generate: all of them, or the ones asked for with `splits=`, in `available_splits` order."""
        available = tuple(self.available_splits())
        if self._only_splits is None:
            return available
        unknown = [s for s in self._only_splits if s not in available]
        if unknown or not self._only_splits:
            raise ValueError(
                f"{self.info.full_name}: no split {', '.join(map(repr, unknown)) or '(none asked for)'}; "
                f"choose among {', '.join(available)}"
            )
        return tuple(s for s in available if s in self._only_splits)


def new_metadata():
    """A `MetadataDict` for the counts each builder records while it generates (saved with the dataset)."""
    return tfds.core.MetadataDict()


# brmson/dataset-sts keeps SICK 2014 and the SemEval STS 2012-2016 test sets (score, sentence1, sentence2 TSVs).
# Pinned per file to commits holding the gold-scored files: 2012-2015 and SICK at DATASET_STS_COMMIT, the 2016
# test sets (with their gold scores) at DATASET_STS_2016_COMMIT.
DATASET_STS_HOMEPAGE = "https://github.com/brmson/dataset-sts"
DATASET_STS_COMMIT = "11bb9cf92419821f3bf907e9bd22291bed84d990"
DATASET_STS_2016_COMMIT = "45842ce6fb751541d4912136df5a2358591f65cf"


def dataset_sts_url(path, commit=DATASET_STS_COMMIT):
    """The raw URL of `data/sts/<path>` in brmson/dataset-sts at `commit`."""
    return f"https://raw.githubusercontent.com/brmson/dataset-sts/{commit}/data/sts/{path}"


def sts_pair_info(builder, *, description, homepage, citation, license, text_columns=(), features=None, **info):
    """The `DatasetInfo` of a scored-pair (STS) dataset: `sentence1`, `sentence2`, float32 `score`, then the
    string `text_columns` and the other `features` of the builder, in the file's order (no shuffling, so that an
    evaluation on the dataset reads the pairs in the order the local-file evaluation does)."""
    text = tfds.features.Text()
    return tfds.core.DatasetInfo(
        builder=builder,
        description=description,
        features=tfds.features.FeaturesDict(
            {
                "sentence1": text,
                "sentence2": text,
                "score": tfds.features.Scalar(dtype=np.float32),
                **(features or {}),
                **{name: text for name in text_columns},
            }
        ),
        supervised_keys=None,
        disable_shuffling=True,
        homepage=homepage,
        citation=citation,
        license=license,
        **info,
    )
