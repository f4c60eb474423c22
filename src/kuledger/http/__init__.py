"""The KuCoin-compatible HTTP edge: parsing, auth, envelopes, error table."""
