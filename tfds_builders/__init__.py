"""TFDS builders for the SimCSE training corpora and the Korean evaluation sets.

Importing this package registers every builder with TensorFlow Datasets, so that `tfds.builder(NAME)` and
`tfds.load(NAME)` know them. Prepare one (also offline, from local copies of the upstream files) with
`tfds_builders.prepare.prepare(NAME, manual_dir=...)` or `python -m tfds_builders.prepare NAME --manual_dir DIR`.

* `kornli_triplets` (premise, entailment, contradiction): config snli_mnli: train; config xnli: dev, test, dev_test
* `klue_nli_triplets` (premise, entailment, contradiction): train, dev
* `korean_wiki_sentences` (text): train
* `simcse_wiki1m` (text): train
* `simcse_nli` (premise, entailment, contradiction): train
* `korsts` (sentence1, sentence2, score, genre, filename, year, id): train, dev, test
* `klue_sts` (sentence1, sentence2, score, label, binary_label, guid, source): train, dev
* `stsb` (sentence1, sentence2, score, genre, filename, year, id): train, dev, test
* `sick` (sentence1, sentence2, score, entailment, pair_id): train, dev (SICK's trial set), test
* `semeval_sts` (sentence1, sentence2, score, subset): configs sts12 ... sts16, split test

See tfds_builders/README.md for sources, licenses and offline preparation.
"""

from tfds_builders.klue_nli_triplets import Builder as KlueNliTriplets
from tfds_builders.klue_sts import Builder as KlueSts
from tfds_builders.korean_wiki_sentences import Builder as KoreanWikiSentences
from tfds_builders.kornli_triplets import Builder as KornliTriplets
from tfds_builders.korsts import Builder as Korsts
from tfds_builders.semeval_sts import Builder as SemevalSts
from tfds_builders.sick import Builder as Sick
from tfds_builders.simcse_nli import Builder as SimcseNli
from tfds_builders.simcse_wiki1m import Builder as SimcseWiki1m
from tfds_builders.stsb import Builder as Stsb

BUILDERS = {
    builder.name: builder
    for builder in (
        KornliTriplets,
        KlueNliTriplets,
        KoreanWikiSentences,
        SimcseWiki1m,
        SimcseNli,
        Korsts,
        KlueSts,
        Stsb,
        Sick,
        SemevalSts,
    )
}
