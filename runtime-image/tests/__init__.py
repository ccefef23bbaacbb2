"""unittest suite of the executor; run with runtime-image/run-tests.sh."""
