"""Proof that a fifth resource is one folder plus one registry line.

``echo_cloud/`` is a complete backend folder shaped like a real cloud's (``backend``, ``states``, ``pricing``)
over a tiny in-process "cloud" (``service``). ``tests/integration/test_fifth_resource.py`` registers it with one
``register_backend`` call and runs it, unchanged, through ``WandbLaunchOperator``, ``LaunchJobTrigger``,
reattach-on-retry, the execution_timeout stop, the cost estimate and ``WandbCompareRunsOperator``.
"""
