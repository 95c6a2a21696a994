"""What the tests run against and share: the fake Sheets API and its schema check, the
loopback servers, the in-memory backend, the two-backend harness and the fixtures module."""
