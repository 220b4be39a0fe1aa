"""Pure protocol cores: no asyncio, sqlite3, socket or wall clock in here (a test checks)."""
