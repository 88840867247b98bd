"""The git layer: the only code that starts a git process (``process``), the repository
as git sees it (``repo``) and one parser per plumbing output (``plumbing``)."""
