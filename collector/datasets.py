"""Dataset names that readers of the store query by: one place for boards, rules and reports.

The parsers that emit these datasets take their names from here, so a board never imports a
parser to learn what to filter on (the parse stage stays below everything that reads events).
"""

from __future__ import annotations

KAFKA_BROKER = "kafka.broker"
RABBITMQ_LOG = "rabbitmq.log"
IBMMQ_ERROR_LOG = "ibmmq.error_log"
# Broker logs: warnings here (ISR shrinks, memory alarms, channels ending) are the brokers' own.
BROKER_LOGS = (KAFKA_BROKER, RABBITMQ_LOG, IBMMQ_ERROR_LOG)
