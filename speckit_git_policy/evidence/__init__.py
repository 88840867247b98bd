"""Evidence for CI systems and auditors: problem reports in the formats CI reads
(plain, GitHub annotations, SARIF, step summaries), the audit report (Markdown, HTML)
and signed in-toto attestations of runs."""
