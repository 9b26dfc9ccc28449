# Airflow image with airflow-provider-wandb-launch[all] installed from this repository's source.
#
#   docker build -t airflow-provider-wandb-launch:local .
#   docker build --build-arg AIRFLOW_VERSION=3.3.2 -t airflow-provider-wandb-launch:local .
#
# docker-compose.yaml builds it for you (`docker compose build`, or implicitly on first `up`).
#
# Follows "Extending the image" from https://airflow.apache.org/docs/docker-stack/build.html:
# install as the `airflow` user and pin apache-airflow==${AIRFLOW_VERSION} in the same command so
# the resolver can never up- or downgrade Airflow itself.
#
# Constraints: the docs' constraints variant passes `--constraint "${HOME}/constraints.txt"` (the
# constraints the base image was built with). Those pin the Amazon / Google / Azure providers to the
# versions current when apache-airflow ${AIRFLOW_VERSION} was released, which are older than the
# minimums of the [all] extra (e.g. apache-airflow-providers-amazon>=9.39 was published after
# Airflow 3.3.2), so that install cannot resolve. The constraints file is therefore opt-in:
#   docker build --build-arg AIRFLOW_CONSTRAINTS_FILE=/home/airflow/constraints.txt .
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}

ARG AIRFLOW_VERSION
# Empty = no constraints file (see above).
ARG AIRFLOW_CONSTRAINTS_FILE=""

USER airflow

# Only what building the wheel needs: metadata (pyproject.toml, README.md for the long description),
# the lock file (kept next to pyproject.toml for reference / `uv` users) and the package source.
COPY --chown=airflow:0 pyproject.toml uv.lock README.md /opt/airflow/provider-src/
COPY --chown=airflow:0 airflow_wandb_launch/ /opt/airflow/provider-src/airflow_wandb_launch/

RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "/opt/airflow/provider-src[all]" \
        ${AIRFLOW_CONSTRAINTS_FILE:+--constraint "${AIRFLOW_CONSTRAINTS_FILE}"} \
    && python -c "import airflow_wandb_launch"
