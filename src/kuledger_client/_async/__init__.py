"""The client written once, for asyncio; _sync/ holds its generated twin."""
