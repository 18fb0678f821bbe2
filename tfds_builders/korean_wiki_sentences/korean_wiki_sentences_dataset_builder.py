"""korean_wiki_sentences: Korean Wikipedia sentences, one per example, for unsupervised SimCSE."""

import collections
import hashlib

import tensorflow_datasets as tfds

from tfds_builders import _common

_URL = "https://github.com/jeongukjae/korean-wikipedia-corpus/releases/download/20210606/corpus.zip"
_EXTRACTED = "text-preprocessed"

_DESCRIPTION = f"""\
Sentences of the Korean Wikipedia for unsupervised SimCSE, from the sentence-split corpus released as
jeongukjae/korean-wikipedia-corpus 20210606 (`corpus.zip`, the release tfds-korean's korean_wikipedia_corpus
reads): a wikiextractor dump split into sentences with kss, in files `{_EXTRACTED}/*/wiki_*`, where each block
of lines is a heading ("title" or "title - section") followed by one sentence per line, and blocks are separated
by an empty line.

One example per sentence (feature `text`), in file-name order then line order. Headings are not sentences and
are dropped; surrounding whitespace is removed; empty lines separate blocks; a sentence equal to an earlier one
is dropped (the first occurrence is kept), so that one batch holds no two copies of an anchor, which would be
false negatives of each other. `info.metadata["train"]` counts files, headings (one per block), empty lines,
sentences kept and duplicates dropped.
"""

_CITATION = """\
@misc{jeong2021koreanwikipediacorpus,
  title        = {Korean Wikipedia Corpus},
  author       = {Jeong, Ukjae},
  year         = {2021},
  howpublished = {https://github.com/jeongukjae/korean-wikipedia-corpus}
}"""


def _lines(path):
    """Yields `(1-based line number, text)`, splitting on `\\n` only, as the library's readers do."""
    with path.open("rb") as f:
        for line_number, raw in enumerate(f, start=1):
            raw = raw.rstrip(b"\n")
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                yield line_number, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}: line {line_number}: not valid UTF-8 ({e.reason})") from None


class Builder(_common.BuilderBase):
    """Deduplicated Korean Wikipedia sentences."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release (corpus release 20210606)."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions(
        [_URL], extra=f"  (or its extracted folder `{_EXTRACTED}/`)"
    )

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
            supervised_keys=None,
            disable_shuffling=True,  # Keep the corpus order: shuffling is the pipeline's job.
            homepage="https://github.com/jeongukjae/korean-wikipedia-corpus",
            citation=_CITATION,
            license=_common.CC_BY_SA_3,
            metadata=_common.new_metadata(),
        )

    def available_splits(self):
        return ("train",)

    def _split_generators(self, dl_manager):
        self.requested_splits()  # Rejects a split name other than train.
        root = _common.upstream_archive(self, dl_manager, _URL, _EXTRACTED) / _EXTRACTED
        files = sorted((p for p in root.glob("*/wiki_*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
        if not files:
            raise ValueError(f"{root}: no {_EXTRACTED}/*/wiki_* files; is this the korean-wikipedia-corpus release?")
        return {"train": self._generate_examples(files)}

    def _generate_examples(self, files):
        counts = collections.Counter(files=len(files))
        seen = set()  # 16-byte digests: the corpus has millions of sentences.
        index = 0
        for path in files:
            in_block = False
            for _, text in _lines(path):
                text = text.strip()
                if not text:
                    counts["empty_lines"] += 1
                    in_block = False
                    continue
                if not in_block:
                    in_block = True
                    counts["headings_dropped"] += 1
                    continue
                digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
                if digest in seen:
                    counts["duplicates_dropped"] += 1
                    continue
                seen.add(digest)
                counts["sentences"] += 1
                yield index, {"text": text}
                index += 1
        keys = ("files", "headings_dropped", "empty_lines", "sentences", "duplicates_dropped")
        self.info.metadata["train"] = {k: int(counts[k]) for k in keys}
