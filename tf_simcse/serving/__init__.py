"""The REST server of `python -m tf_simcse.serve`: embeddings, similarity and search over an export.

- `app.create_app(backend, settings, threshold)`: the FastAPI app (endpoints, limits, errors, access log);
- `batcher.MicroBatcher`: merges concurrent requests into one model call, off the event loop;
- `backend`: `EmbeddingBackend` (any `embed(list[str]) -> [n, dim]`) and `load_export_backend` (an export's
  `sentence_encoder` SavedModel);
- `metrics`: the Prometheus text of `GET /metrics`;
- `server.run(app, sock)`: uvicorn on a pre-bound socket;
- `loadgen.run_load`: the closed-loop load generator of the tests and benchmarks/serve_load.py.

Needs the `serve` extra (`pip install "tf_simcse[serve]"`: fastapi, uvicorn, orjson); nothing here is imported
by `import tf_simcse`.
"""
