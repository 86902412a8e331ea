"""A Celery app for test_celery_queue_features.py: one priority queue (x-max-priority 10)
whose consumer timeout is raised (x-consumer-timeout) above the broker's, with late acks and
one message prefetched, as long-running Celery deployments configure it.

The worker subprocess reads WARREN_CELERY_BROKER_URL and WARREN_CELERY_QUEUE; tasks append
what they did to the file WARREN_CELERY_LOG, so the test sees the order they ran in."""

import os
import time

from celery import Celery
from kombu import Exchange, Queue

from celery_app.common import COMMON_CONF

QUEUE = os.environ.get("WARREN_CELERY_QUEUE", "warren-priority")
RAISED_TIMEOUT_MS = 60_000

app = Celery(
    "warren_priority",
    broker=os.environ.get("WARREN_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    backend="rpc://",
)
app.conf.update(
    task_queues=[
        Queue(
            QUEUE,
            Exchange(QUEUE),
            routing_key=QUEUE,
            queue_arguments={"x-max-priority": 10, "x-consumer-timeout": RAISED_TIMEOUT_MS},
        )
    ],
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    **COMMON_CONF,
)


def _log(line):
    with open(os.environ["WARREN_CELERY_LOG"], "a") as f:
        f.write(line + "\n")


@app.task
def record(label):
    _log(f"ran {label}")
    return label


@app.task
def slow(seconds):
    _log(f"slow start {seconds}")
    time.sleep(seconds)
    _log(f"slow done {seconds}")
    return seconds
