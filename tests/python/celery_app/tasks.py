"""A tiny Celery app for test_celery.py.

The worker subprocess reads its broker and queue from the environment:
WARREN_CELERY_BROKER_URL (e.g. amqp://guest:guest@127.0.0.1:5672//) and
WARREN_CELERY_QUEUE (a unique queue name, so runs don't collide on a shared broker).
"""

import os

from celery import Celery

from celery_app.common import COMMON_CONF

app = Celery(
    "warren_tests",
    broker=os.environ.get("WARREN_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    backend="rpc://",
)
app.conf.update(
    task_default_queue=os.environ.get("WARREN_CELERY_QUEUE", "warren-tests"),
    **COMMON_CONF,
)


@app.task
def add(x, y):
    return x + y


@app.task
def boom(message):
    raise ValueError(message)
