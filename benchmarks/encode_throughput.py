"""Encode throughput (sentences/s of `Encoder.encode`, the code of `python -m tf_simcse.encode`) of several models
on the same sentences, measured in one sitting, rounds interleaved so that a noisy machine slows every model alike.

    python benchmarks/encode_throughput.py --model runs/pipeline/02-sts --model runs/pipeline/04-student_sts \\
        --output encode_throughput.json

Sentences: KorSTS dev (both sides, 3,000) by default, or one per line of --sentences. Each model encodes them once
to warm up (tracing, allocation), then --rounds times; the figure is the median round's sentences per second, and
the table gives each model's throughput relative to the first model's.
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

DATA_DIR = pathlib.Path(
    os.environ.get("TF_SIMCSE_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="repeatable: any tf_simcse --model")
    p.add_argument("--sentences", help="UTF-8 file, one sentence per line (default: KorSTS dev, both sides)")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--max_seq_length", type=int, help="default: each model's own")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--output", help="write the figures to this JSON file")
    args = p.parse_args(argv)

    from tf_simcse.encoders.encoder import Encoder

    if args.sentences:
        sentences = pathlib.Path(args.sentences).read_text(encoding="utf-8").splitlines()
    else:
        from tf_simcse.data.readers import read_korsts

        dev = read_korsts(DATA_DIR / "korsts" / "sts-dev.tsv")
        sentences = list(dev.sentences1) + list(dev.sentences2)
    encoders = [Encoder.from_pretrained(m, max_seq_length=args.max_seq_length) for m in args.model]
    for encoder in encoders:
        encoder.encode(sentences, batch_size=args.batch_size)  # warm-up
    seconds = [[] for _ in encoders]
    for _ in range(args.rounds):
        for i, encoder in enumerate(encoders):
            start = time.perf_counter()
            encoder.encode(sentences, batch_size=args.batch_size)
            seconds[i].append(time.perf_counter() - start)
    rows = []
    for model, encoder, times in zip(args.model, encoders, seconds):
        rows.append({"model": model, "layers": len(encoder.backbone.transformer_layers)
                     if hasattr(encoder.backbone, "transformer_layers") else None,
                     "max_seq_length": encoder.max_seq_length, "round_seconds": times,
                     "sentences_per_s": len(sentences) / statistics.median(times)})
    print("| model | layers | sentences/s (median of rounds) | vs first |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['layers']} | {row['sentences_per_s']:,.1f} | "
              f"{row['sentences_per_s'] / rows[0]['sentences_per_s']:.2f}x |")
    if args.output:
        record = {"command": "python benchmarks/encode_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "sentences": len(sentences), "batch_size": args.batch_size, "rounds": args.rounds, "models": rows}
        pathlib.Path(args.output).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
