"""The launch model: what to run (request, run identity), the job it became (JobRef, JobStatus), and the result.

Pure values and functions: no Airflow operator code, no cloud SDK, no wandb.
"""
