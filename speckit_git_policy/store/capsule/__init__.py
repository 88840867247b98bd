"""The capsule: snapshots, bindings and run logs as git objects under ``refs/speckit/<ws>/``.

``layout`` names every ref, path and URI; ``objects`` is the only module that imports
dulwich (objects, tree edits, compare-and-swap ref updates); ``runlog`` shapes a run's
event log as trees; ``capsule`` is the store built on them; ``merge`` unites two clones'
histories and ``sync`` pushes and pulls them.
"""
