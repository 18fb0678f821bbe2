"""Serve an export over HTTP: `python -m tf_simcse.serve --model EXPORT_OR_RUN_DIR [--port 8000]`.

Loads the export's `sentence_encoder` SavedModel once (any path tf.io.gfile reads; a training output directory
means its export/) and answers, on 127.0.0.1 unless --host says otherwise:

  POST /v1/embeddings  {"sentences": ["...", ...], "normalize": true}     -> {"embeddings": [[...]], "dim": d}
  POST /v1/similarity  {"sentence1": "...", "sentence2": "..."}            -> {"score", "similar", "threshold",
                       or {"pairs": [["a", "b"], ...]}                        "threshold_source"} ("scores" for pairs)
  POST /v1/search      {"query": "...", "documents": [...], "top_k": 10}  -> {"indices": [...], "scores": [...]}
  GET  /healthz  (model, dim, max_seq_length, threshold)   GET /metrics  (Prometheus)   GET /docs  (OpenAPI)

Scores are cosine similarities. "similar" is score >= the decision threshold: --threshold if given, else the
export's decision_threshold.json (written by training or evaluation, selected on a dev split); the response's
"threshold_source" says which ("flag", "model"), and without either it is "none" and "similar" is null.

Concurrent requests are merged into one model call of at most --max_batch_size sentences; a batch waits at most
--max_wait_ms for company. Sentences are embedded as `Encoder.encode` embeds them: empty and whitespace-only
strings are valid (they all get the embedding of [CLS] [SEP]); text beyond the export's max_seq_length tokens is
truncated. Bad requests get a 4xx and {"error": "<field>: <what is wrong>", "field": ...}: 400 body not UTF-8 or
not JSON, 401 API key, 413 body over --max_body_bytes, 422 a wrong, missing or unknown field, an empty list,
more than --max_sentences sentences, a sentence over --max_chars characters. One access-log line per request goes
to stderr.

Example:
  python -m tf_simcse.serve --model runs/kornli_sup
  curl -s localhost:8000/v1/similarity \\
      -d '{"sentence1": "한 남자가 음식을 먹는다.", "sentence2": "한 남자가 빵을 먹는다."}'
"""

import argparse
import math
import os
import sys

from tf_simcse import _cli

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.serve", description=__doc__, formatter_class=_cli.HelpFormatter
    )
    parser.add_argument(
        "--model",
        required=True,
        help="a tf_simcse export directory (python -m tf_simcse.export), a training output directory with an "
        "export/, or the export's sentence_encoder/; local or any tf.io.gfile path (gs://...)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: a free one, printed at startup)")
    parser.add_argument(
        "--max_batch_size", type=int, default=32, help="most sentences per model call (1 turns batching off)"
    )
    parser.add_argument(
        "--max_wait_ms",
        type=float,
        default=5.0,
        help="how long a request may wait for others to share its model call (0: never wait)",
    )
    parser.add_argument(
        "--max_sentences",
        type=int,
        default=256,
        help="most sentences one request may embed (a pair counts 2, a search the documents + 1)",
    )
    parser.add_argument("--max_chars", type=int, default=2000, help="most characters in one sentence")
    parser.add_argument("--max_body_bytes", type=int, default=1 << 20, help="largest request body, in bytes")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="cosine threshold of \"similar\"; overrides the export's decision_threshold.json",
    )
    parser.add_argument(
        "--api_key",
        default=None,
        help="require the header 'Authorization: Bearer KEY' on /v1/* and /metrics; when not given, "
        "$TF_SIMCSE_API_KEY is used if set (it keeps the key out of the process list)",
    )
    parser.add_argument(
        "--raw_embeddings",
        action="store_true",
        help="run the export's preprocessor + encoder instead of sentence_encoder, so that \"normalize\": false "
        "returns Encoder.encode's un-normalized embeddings",
    )
    parser.add_argument("--quiet", action="store_true", help="no access-log line per request")
    return parser


def check_args(args):
    if not 0 <= args.port <= 65535:
        raise SystemExit(f"error: --port must be between 0 and 65535, got {args.port}")
    for name in ("max_batch_size", "max_sentences", "max_chars", "max_body_bytes"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name} must be >= 1, got {getattr(args, name)}")
    if not (math.isfinite(args.max_wait_ms) and args.max_wait_ms >= 0):
        raise SystemExit(f"error: --max_wait_ms must be a number >= 0, got {args.max_wait_ms}")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise SystemExit(f"error: --threshold must be a finite number, got {args.threshold}")
    if args.api_key is not None and not args.api_key.strip():
        raise SystemExit("error: --api_key is empty")


@_cli.reports_user_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.api_key is None:
        args.api_key = os.environ.get("TF_SIMCSE_API_KEY")
    check_args(args)
    try:
        import fastapi  # noqa: F401
        import orjson  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise SystemExit(
            f"error: the server needs the 'serve' extra ({e.name} is missing): pip install \"tf_simcse[serve]\""
        )
    _cli.quiet_tensorflow()
    from tf_simcse.exporting import read_decision_threshold
    from tf_simcse.serving import server
    from tf_simcse.serving.app import ServerSettings, create_app, resolve_threshold
    from tf_simcse.serving.backend import load_export_backend

    sock = server.bind_socket(args.host, args.port)  # a taken port fails now, not after loading the model
    if args.host not in _LOOPBACK and args.api_key is None:
        _cli.info(f"warning: listening on {args.host} without --api_key: anyone who reaches this port can use it")
    try:
        backend = load_export_backend(args.model, raw_embeddings=args.raw_embeddings)
        stored = read_decision_threshold(backend.path)
    except BaseException:
        sock.close()
        raise
    threshold = resolve_threshold(stored, args.threshold)
    _cli.info(_describe(backend, threshold, stored))
    settings = ServerSettings(
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_sentences=args.max_sentences,
        max_chars=args.max_chars,
        max_body_bytes=args.max_body_bytes,
        api_key=args.api_key,
        access_log=not args.quiet,
    )
    app = create_app(backend, settings, threshold)
    server.run(
        app,
        sock,
        announce=lambda url: _cli.info(
            f"serving {backend.name} at {url} (API docs: {url}/docs; batches of up to {args.max_batch_size} "
            f"sentences, waiting up to {args.max_wait_ms:g} ms; Ctrl+C to stop)"
        ),
        on_stop=lambda: _cli.info("stopped"),
    )
    return 0


def _describe(backend, threshold, stored):
    what = "preprocessor + encoder (raw embeddings)" if not backend.normalized else "sentence_encoder"
    line = f"loaded {backend.path} ({what}): dim {backend.dim}, max_seq_length {backend.max_seq_length}; "
    if threshold is None:
        return line + "no decision threshold (\"similar\" is null; set one with --threshold)"
    if threshold.source == "flag":
        overridden = f", overriding decision_threshold.json's {stored['threshold']:g}" if stored else ""
        return line + f"decision threshold {threshold.value:g} from --threshold{overridden}"
    return line + (
        f"decision threshold {threshold.value:g} from decision_threshold.json "
        f"(best {threshold.metric} on {threshold.split})"
    )


if __name__ == "__main__":
    sys.exit(main())
