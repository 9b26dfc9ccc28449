"""``local-process`` and ``local-container``: the job on the worker itself, its output in the task log."""
