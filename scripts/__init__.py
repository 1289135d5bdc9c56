"""Repository tools (zoo building and training, studies, benchmarks, README refresh): not installed."""
