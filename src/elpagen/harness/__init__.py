"""The harness: fit -> sample -> score (:mod:`.trial`), looped by the benchmark and the frontier."""
