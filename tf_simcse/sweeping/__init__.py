"""The pieces of `python -m tf_simcse.sweep`: several seeds of one config (`seeds`) and an Optuna search
(`search`). Optuna is imported by `search` only, when it runs."""
