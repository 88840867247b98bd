"""Evidence for CI systems and auditors: problem reports in the formats they read."""
