"""Celery settings every test app here shares: bounded broker connection attempts,
short-lived results, and the worker's output left to the test that reads it."""

COMMON_CONF = dict(
    broker_connection_timeout=10,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=3,
    result_expires=300,
    worker_hijack_root_logger=True,
    worker_redirect_stdouts=False,
)
