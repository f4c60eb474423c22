"""The `kuledger` command line."""
