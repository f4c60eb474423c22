"""kuledger's benchmark suite: ./scripts/bench (see README "Benchmarks")."""
