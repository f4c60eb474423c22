"""The ledger's rules: money, accounts, entries, operations. Standard library only."""
