"""The whole pipeline on one machine: endpoint, deployed template, functions, mappings, HTTP API."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.apigateway.http_api import DEFAULT_PORT as API_PORT
from local.apigateway.http_api import ApiServer, RouteThrottle
from local.awslambda.api import LambdaApi
from local.awslambda.esm import DISABLE_DELAY_SECONDS, EventSourceMapping, MappingSettings
from local.awslambda.functions import FunctionPool
from local.cloudformation.deployer import (
    Deployer,
    LocalStack,
    local_client,
    local_credentials,
    local_outputs,
    publish_outputs,
)
from local.cloudwatch.feed import LogFeed
from local.endpoint import DEFAULT_PORT, Endpoint
from local.events.schedules import Scheduler
from local.firehose.delivery import DeliverySettings, FirehoseDelivery
from tools.template import LOCAL_REGION, ROOT, load_template

STATE_PATH = ROOT / "build" / "local-stack.json"
# Each function's output (Powertools JSON logs and EMF metrics), as its log group would hold it.
LOG_DIR = ROOT / "build" / "logs"
# The runtime's own figures, refreshed every second by `make up` for the load test's plot.
METRICS_PATH = ROOT / "build" / "local-metrics.json"
# Concurrency of a function without reserved concurrency: the local "account quota". AWS's
# default is 1,000; two cores are not.
LOCAL_UNRESERVED_CONCURRENCY = 10


def worker_environment(endpoint_url: str) -> dict[str, str]:
    """What every local function process sees besides its template environment."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        **local_credentials(),
        "AWS_REGION": LOCAL_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }


def http_routes(template: dict[str, Any]) -> dict[str, str]:
    """``"POST /events" -> "IngestFunction"``, from the functions' HttpApi events in template.yaml."""
    routes = {}
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "HttpApi":
                props = event["Properties"]
                routes[f"{str(props['Method']).upper()} {props['Path']}"] = name
    return routes


@dataclass
class LocalRuntime:
    params: dict[str, str] = field(default_factory=dict)
    port: int = DEFAULT_PORT
    api_port: int = API_PORT
    stack_name: str = "weir-local"
    faults: list[dict[str, Any]] = field(default_factory=list)
    # Who serves DynamoDB locally: dynalite, or moto (B4's baseline); see local.endpoint.
    dynamodb: str = "dynalite"
    endpoint: Endpoint | None = None
    stack: LocalStack | None = None
    pools: dict[str, FunctionPool] = field(default_factory=dict)
    mappings: list[EventSourceMapping] = field(default_factory=list)
    api: ApiServer | None = None
    scheduler: Scheduler | None = None
    log_feed: LogFeed | None = None
    deliveries: list[FirehoseDelivery] = field(default_factory=list)
    # How long a disabled mapping keeps delivering (AWS: about 60 s, docs/local.md); tests may lower it.
    disable_delay_seconds: float = DISABLE_DELAY_SECONDS

    def start(self, warm: bool = True) -> LocalRuntime:
        import threading

        try:
            self.endpoint = Endpoint(self.port, faults=self.faults, dynamodb=self.dynamodb).start()
            self.stack = Deployer(self.endpoint.url, self.stack_name).deploy(self.params)
            base = worker_environment(self.endpoint.url)
            for logical_id, function in self.stack.functions.items():
                paths = [*self.stack.layer_paths, function.handler_path.parent]
                concurrency = function.reserved_concurrency or LOCAL_UNRESERVED_CONCURRENCY
                log_file = str(LOG_DIR / f"{logical_id}.log")
                env = {**function.environment, **base, "WEIR_LOCAL_LOG_FILE": log_file}
                self.pools[logical_id] = FunctionPool(function, env, paths, concurrency)
            by_name = {f.name: logical_id for logical_id, f in self.stack.functions.items()}
            for props in self.stack.event_source_mappings:
                logical_id = by_name[str(props["FunctionName"])]
                pool = self.pools[logical_id]
                settings = MappingSettings.from_properties(props, pool.function.arn, pool.function.role_arn)
                mapping = EventSourceMapping(settings, pool, self.endpoint.url)
                mapping.disable_delay_seconds = self.disable_delay_seconds
                mapping.function_logical_id = logical_id
                self.mappings.append(mapping)
            for mapping in self.mappings:
                shared = [m for m in self.mappings if m.settings.reads_shared(mapping.settings)]
                mapping.readers_per_shard = max(1, len(shared))
            if warm:
                # Cold starts happen in parallel, before traffic, as provisioned concurrency would:
                # two workers per function, and a consumer as many as its mappings run batches at once.
                wanted = {id(pool): 2 for pool in self.pools.values()}
                for mapping in self.mappings:
                    wanted[id(mapping.pool)] = max(wanted[id(mapping.pool)], mapping.concurrency_wanted())
                warmers = [threading.Thread(target=pool.warm, args=(wanted[id(pool)],)) for pool in self.pools.values()]
                for thread in warmers:
                    thread.start()
                for thread in warmers:
                    thread.join()
            for mapping in self.mappings:
                mapping.start()
            files = {
                f.log_group: LOG_DIR / f"{logical_id}.log"
                for logical_id, f in self.stack.functions.items()
                if f.log_group
            }
            self.log_feed = LogFeed(
                files, local_client("logs", self.endpoint.url), local_client("cloudwatch", self.endpoint.url)
            ).start()
            by_arn = {pool.function.arn: pool for pool in self.pools.values()}
            for props in self.stack.deliveries:
                delivery = DeliverySettings.from_properties(props)
                self.deliveries.append(
                    FirehoseDelivery(
                        delivery,
                        local_client("kinesis", self.endpoint.url),
                        local_client("s3", self.endpoint.url),
                        by_arn.get(delivery.transform_arn or ""),
                    ).start()
                )
            self.scheduler = Scheduler(self.stack.schedules, by_arn).start()
            # The stack's Lambda API on the endpoint, and its outputs through CloudFormation.
            assert self.endpoint.server is not None
            self.endpoint.server.gateway.services["lambda"] = LambdaApi(self.pools, self.mappings).handle
            parameters = self.stack.parameters
            throttle = RouteThrottle(
                float(parameters["ApiThrottlingRateLimit"]), int(parameters["ApiThrottlingBurstLimit"])
            )
            routes = {route: self.pools[name] for route, name in http_routes(load_template()).items()}
            self.api = ApiServer(("127.0.0.1", self.api_port), routes, throttle)
            self.api_port = int(self.api.server_address[1])
            threading.Thread(target=self.api.serve_forever, name="api", daemon=True).start()
            publish_outputs(self.endpoint.url, self.stack_name, self.outputs())
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def outputs(self) -> dict[str, str]:
        assert self.stack is not None
        outputs = local_outputs(self.stack)
        outputs["IngestApiUrl"] = self.api_url
        return outputs

    def mapping(self, function: str) -> EventSourceMapping:
        """The event source mapping of one function (its logical id: ProcessFunction, AggregateFunction)."""
        for mapping in self.mappings:
            if mapping.function_logical_id == function:
                return mapping
        raise KeyError(f"no event source mapping for {function}")

    def environment(self) -> dict[str, str]:
        assert self.endpoint is not None
        return {"AWS_ENDPOINT_URL": self.endpoint.url, **local_credentials()}

    def _write_state(self, path: Path = STATE_PATH) -> None:
        assert self.stack is not None
        assert self.endpoint is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "endpoint": self.endpoint.url,
            # The placeholder credentials and region a client of the endpoint uses (tools.stack reads them).
            "environment": local_credentials(),
            "api": self.api_url,
            "outputs": self.outputs(),
            "stack": self.stack.to_json(),
        }
        path.write_text(json.dumps(state, indent=2) + "\n")

    def write_metrics(self, path: Path = METRICS_PATH) -> None:
        """Iterator age and records processed, as CloudWatch would show them, for local readers:
        the first consumer's (the events table's), and the second consumer's iterator age apart."""
        consumers = [m for m in self.mappings if m.function_logical_id == "ProcessFunction"] or self.mappings
        others = [m for m in self.mappings if m not in consumers]
        stats = [m.stats for m in consumers]
        pools = {id(m.pool): m.pool for m in consumers}
        lanes = sum(m.lane_count() for m in consumers)
        figures = {
            "time": time.time(),
            "iterator_age_ms": max((max(m.iterator_age_ms().values(), default=0) for m in consumers), default=0),
            "other_consumers_iterator_age_ms": max(
                (max(m.iterator_age_ms().values(), default=0) for m in others), default=0
            ),
            "records_processed": sum(s.records_processed for s in stats),
            "invocations": sum(s.invocations for s in stats),
            # concurrent batches now, and the cap: the lanes (shards x ParallelizationFactor) or the
            # reserved concurrency, whichever is lower
            "consumer_in_flight": sum(pool.in_flight for pool in pools.values()),
            "consumer_cap": min(lanes, sum(pool.concurrency for pool in pools.values())),
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(figures))
        temporary.replace(path)

    def idle(self) -> bool:
        return all(mapping.idle() for mapping in self.mappings)

    def iterator_age_ms(self) -> int:
        return max((max(m.iterator_age_ms().values(), default=0) for m in self.mappings), default=0)

    def stop(self) -> None:
        for delivery in self.deliveries:
            delivery.stop()  # what it buffered is delivered, while the transformation still runs
        self.deliveries.clear()
        if self.log_feed is not None:
            self.log_feed.stop()
            self.log_feed = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()
            self.api = None
        for mapping in self.mappings:
            mapping.stop()
        self.mappings.clear()
        for pool in self.pools.values():
            pool.stop()
        self.pools.clear()
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None
        STATE_PATH.unlink(missing_ok=True)
