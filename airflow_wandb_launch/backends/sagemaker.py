"""``sagemaker``: a SageMaker training job (CreateTrainingJob) through the Amazon provider's SageMakerHook."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from airflow_wandb_launch.backends.base import Backend
from airflow_wandb_launch.cost.inputs import Machine, PricingInputs
from airflow_wandb_launch.errors import MISSING, MissingExtraError, ResourceArgsError
from airflow_wandb_launch.launch.job import JobRef, JobState, JobStatus
from airflow_wandb_launch.launch.request import LaunchRequest
from airflow_wandb_launch.launch.resource_args import Args
from airflow_wandb_launch.launch.run import RunIdentity

RESOURCE = "sagemaker"
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MAX_ENV_VALUE = 512
#: keys of the data, not the schema: never CamelCased.
DATA_KEYS = frozenset(
    {
        "Environment",
        "HyperParameters",
        "HookParameters",
        "RuleParameters",
        "CollectionParameters",
        "ProfilingParameters",
    }
)
#: keys W&B Launch accepts in a SageMaker queue config that are not CreateTrainingJob fields.
LAUNCH_ONLY_KEYS = ("EcrRepoName", "region", "profile", "Region", "Profile")
CREATE_TRAINING_JOB_KEYS = frozenset(
    {
        "TrainingJobName",
        "HyperParameters",
        "AlgorithmSpecification",
        "RoleArn",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "VpcConfig",
        "StoppingCondition",
        "Tags",
        "EnableNetworkIsolation",
        "EnableInterContainerTrafficEncryption",
        "EnableManagedSpotTraining",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "TensorBoardOutputConfig",
        "ExperimentConfig",
        "ProfilerConfig",
        "ProfilerRuleConfigurations",
        "Environment",
        "RetryStrategy",
        "RemoteDebugConfig",
        "InfraCheckConfig",
        "SessionChainingConfig",
        "MaxWaitTimeInSeconds",
    }
)

#: TrainingJobStatus -> normalized state (Stopped is refined by SecondaryStatus below).
STATES: dict[str, JobState] = {
    "InProgress": JobState.RUNNING,
    "Completed": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Stopping": JobState.STOPPING,
    "Stopped": JobState.STOPPED,
}
PENDING_SECONDARY = frozenset({"Starting", "Pending", "LaunchingMLInstances", "PreparingTrainingStack"})
TIMEOUT_SECONDARY = {
    "MaxRuntimeExceeded": "StoppingCondition.MaxRuntimeInSeconds was exceeded",
    "MaxWaitTimeExceeded": "StoppingCondition.MaxWaitTimeInSeconds was exceeded (no spot capacity in time)",
}


def to_camel_case(key: str) -> str:
    """W&B Launch's snake_case -> CamelCase (``volume_size_in_gb`` -> ``VolumeSizeInGB``)."""
    if "_" not in key:
        return key[:1].upper() + key[1:]  # `environment` -> `Environment`, as W&B Launch accepts it
    camel = "".join(part.title() if part else "_" for part in key.split("_"))
    return re.sub(r"InGb$", "InGB", camel)


def camelize(value: Any) -> Any:
    """CamelCase every mapping key, except inside data maps such as ``Environment``."""
    if isinstance(value, list):
        return [camelize(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = to_camel_case(key)
        out[name] = item if name in DATA_KEYS else camelize(item)
    return out


def build_training_job(request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The CreateTrainingJob body for ``request`` from a W&B Launch SageMaker queue config. Pure."""
    body = camelize(resource_args)
    for key in LAUNCH_ONLY_KEYS:
        body.pop(key, None)
    args = Args(RESOURCE, body)
    args.only(CREATE_TRAINING_JOB_KEYS)

    args.get("RoleArn", str, required=True)
    _validate_resources(args.child("ResourceConfig", required=True))
    output = args.child("OutputDataConfig", required=True)
    _s3_uri(output, "S3OutputPath", required=True)
    stopping = args.child("StoppingCondition", required=True)
    max_runtime = stopping.positive_int("MaxRuntimeInSeconds")
    _spot(args, body, stopping, max_runtime)

    name = args.get("TrainingJobName", str) or request.job_name
    if not JOB_NAME.match(name):
        raise args.error("TrainingJobName", name, "1-63 letters, digits and dashes, starting with a letter or digit")
    body["TrainingJobName"] = name
    body["AlgorithmSpecification"] = _algorithm(args, request)
    body["Environment"] = _environment(args, env)
    body["Tags"] = _tags(args, request)
    return {k: v for k, v in body.items() if v is not None}


def _validate_resources(resources: Args) -> None:
    if "InstanceGroups" in resources.data:
        resources.get("InstanceGroups", list, required=True)
    else:
        resources.get("InstanceType", str, required=True)
        resources.positive_int("InstanceCount", required=True)
    resources.positive_int("VolumeSizeInGB", required="InstanceGroups" not in resources.data)
    resources.get("VolumeKmsKeyId", str)


def _s3_uri(args: Args, name: str, *, required: bool = False) -> None:
    value = args.get(name, str, required=required)
    if value is not None and not value.startswith("s3://"):
        raise args.error(name, value, "an s3:// URI")


def _spot(args: Args, body: dict[str, Any], stopping: Args, max_runtime: int | None) -> None:
    """Managed spot: the seed's top-level MaxWaitTimeInSeconds moves into StoppingCondition, where AWS wants it."""
    top_level_wait = args.positive_int("MaxWaitTimeInSeconds")
    body.pop("MaxWaitTimeInSeconds", None)
    max_wait = stopping.positive_int("MaxWaitTimeInSeconds")
    if top_level_wait is not None:
        if max_wait is not None and max_wait != top_level_wait:
            raise args.error(
                "MaxWaitTimeInSeconds",
                top_level_wait,
                f"the same value as StoppingCondition.MaxWaitTimeInSeconds ({max_wait}), or only one",
            )
        max_wait = top_level_wait
        body["StoppingCondition"]["MaxWaitTimeInSeconds"] = max_wait
    spot = args.get("EnableManagedSpotTraining", bool, default=False)
    if spot:
        if max_wait is None:
            raise stopping.error(
                "MaxWaitTimeInSeconds", MISSING, "a wait limit in seconds: managed spot training requires it"
            )
        if max_runtime is not None and max_wait < max_runtime:
            raise stopping.error("MaxWaitTimeInSeconds", max_wait, f"at least MaxRuntimeInSeconds ({max_runtime})")
    elif max_wait is not None:
        raise stopping.error("MaxWaitTimeInSeconds", max_wait, "only with EnableManagedSpotTraining: true")
    if "CheckpointConfig" in args.data:
        _s3_uri(args.child("CheckpointConfig"), "S3Uri", required=True)


def _algorithm(args: Args, request: LaunchRequest) -> dict[str, Any]:
    spec = dict(args.get("AlgorithmSpecification", dict, default={}))
    if request.image:
        spec["TrainingImage"] = request.image
    spec.setdefault("TrainingInputMode", "File")
    if not spec.get("TrainingImage") and not spec.get("AlgorithmName"):
        raise ResourceArgsError(
            RESOURCE,
            "image",
            None,
            "a container image (the operator's image or job, or AlgorithmSpecification.TrainingImage)",
        )
    if request.entry_point:
        spec["ContainerEntrypoint"] = list(request.entry_point)
    return spec


def _environment(args: Args, env: dict[str, str]) -> dict[str, str]:
    given = args.get("Environment", dict, default={})
    merged = {**env, **{str(k): str(v) for k, v in given.items()}}
    for key, value in merged.items():
        if len(value) > MAX_ENV_VALUE:
            raise args.error(f"Environment.{key}", value, f"at most {MAX_ENV_VALUE} characters (SageMaker's limit)")
    return merged


def _tags(args: Args, request: LaunchRequest) -> list[dict[str, str]]:
    tags = []
    for tag in args.items("Tags"):
        key, value = tag.get("Key", str, required=True), tag.get("Value", str, required=True)
        if key != "WandbRunId":
            tags.append({"Key": key, "Value": value})
    tags.append({"Key": "WandbRunId", "Value": request.run.run_id})
    for key, value in request.airflow_ids.items():
        name = "Airflow" + "".join(p.title() for p in key.split("_"))
        tags.append({"Key": name, "Value": re.sub(r"[^\w.:/=+\-@ ]", "_", str(value))[:256]})
    return tags


def job_status(description: dict[str, Any]) -> JobStatus:
    """Normalize a DescribeTrainingJob response. Pure."""
    status = description["TrainingJobStatus"]
    secondary = description.get("SecondaryStatus") or ""
    state = STATES.get(status, JobState.RUNNING)
    message = description.get("FailureReason")
    if state is JobState.RUNNING and secondary in PENDING_SECONDARY:
        state = JobState.PENDING
    if state is JobState.STOPPED and secondary in TIMEOUT_SECONDARY:
        state, message = JobState.TIMED_OUT, TIMEOUT_SECONDARY[secondary]
    elif state is JobState.STOPPED:
        message = message or "the training job was stopped (StopTrainingJob)"
    details = {k: description[k] for k in ("BillableTimeInSeconds", "TrainingTimeInSeconds") if k in description}
    if secondary:
        details["SecondaryStatus"] = secondary
    return JobStatus(state, status, message, details)


def pricing_inputs(payload: dict[str, Any], region: str | None) -> PricingInputs:
    """What a cost estimate needs from a CreateTrainingJob body (see ``airflow_wandb_launch.cost.estimate``). Pure.

    :param payload: the built CreateTrainingJob body.
    :param region: the AWS region the job runs in.
    """
    resources = payload.get("ResourceConfig") or {}
    groups = resources.get("InstanceGroups") or [resources]
    machines = tuple(Machine(g.get("InstanceType"), int(g.get("InstanceCount") or 1)) for g in groups)
    spot = bool(payload.get("EnableManagedSpotTraining"))
    return PricingInputs(RESOURCE, region, spot, machines)


class SageMakerBackend(Backend):
    """SageMaker training jobs.

    :param aws_conn_id: Airflow AWS connection id (``extra.endpoint_url`` points it elsewhere).
    :param region_name: AWS region; default from the connection.
    """

    resource = RESOURCE
    aliases = ("sagemaker",)
    extra = "amazon"
    connection_params: ClassVar = {"aws_conn_id": "aws_default", "region_name": None}
    max_env_value_length = MAX_ENV_VALUE

    def __init__(self, **connection_args: Any) -> None:
        super().__init__(**connection_args)
        self._hook: Any = None

    @property
    def hook(self) -> Any:
        if self._hook is None:
            try:
                from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
            except ImportError as err:
                raise MissingExtraError(RESOURCE, "amazon", err) from err
            self._hook = SageMakerHook(
                aws_conn_id=self.connection_args["aws_conn_id"], region_name=self.connection_args["region_name"]
            )
        return self._hook

    @property
    def region(self) -> str:
        return self.connection_args["region_name"] or self.hook.conn_region_name

    def build(self, request: LaunchRequest, resource_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        return build_training_job(request, resource_args, env)

    def submit(self, payload: dict[str, Any], run: RunIdentity) -> JobRef:
        payload = dict(payload)
        payload["RoleArn"] = self._role_arn(payload["RoleArn"])
        name = payload["TrainingJobName"]
        client = self.hook.conn
        try:
            self.hook.create_training_job(payload, wait_for_completion=False, print_log=False)
        except client.exceptions.ResourceInUse:
            # The same try submitted it before (a re-executed try): reattach rather than fail.
            self.hook.log.info("Training job %s exists already; attaching to it.", name)
        return JobRef(RESOURCE, name, run, {"region": self.region}, pricing_inputs(payload, self.region))

    def _role_arn(self, role: str) -> str:
        """A bare role name becomes an ARN in the connection's account, as W&B Launch does."""
        if role.startswith("arn:"):
            return role
        identity = self.hook.get_session().client("sts", endpoint_url=self.hook.conn_config.endpoint_url)
        account = identity.get_caller_identity()["Account"]
        return f"arn:aws:iam::{account}:role/{role}"

    def status(self, ref: JobRef) -> JobStatus:
        return job_status(self.hook.conn.describe_training_job(TrainingJobName=ref.job_id))

    def cancel(self, ref: JobRef) -> None:
        client = self.hook.conn
        try:
            client.stop_training_job(TrainingJobName=ref.job_id)
        except client.exceptions.ClientError as err:
            # Stopping a job that already ended is not an error worth failing a kill over.
            if err.response.get("Error", {}).get("Code") != "ValidationException":
                raise

    def job_url(self, ref: JobRef) -> str | None:
        region = ref.cloud.get("region") or self.region
        return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{ref.job_id}"
