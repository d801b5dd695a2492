"""Celery's Redis transport, made to survive the broker going away (RELIABILITY 3).

With celery/kombu 5.7.0 a worker dies ("Unrecoverable error: AttributeError: 'NoneType' object has no attribute
'hostname'") when Redis stops while the worker holds unacknowledged messages, which a Swarm worker nearly always
does (each agent's next step waits in it with a countdown). On the lost connection the consumer first collects the
connection: closing the channel there reads the pending BRPOP reply, which raises a connection error, so the
channel is left half-closed and the transport is detached. The consumer then closes the connection, the channel
closes again, and restoring the unacknowledged messages needs a new Redis pool from the detached transport.

Here a connection error while reading the last reply does not stop the close, so the channel closes once, while
the transport is still attached. The messages it could not give back are not lost to Swarm: Redis restores them
after the visibility timeout, and the sweep (agents/broker_watch.py) re-enqueues every agent whose step vanished.
"""

from __future__ import annotations

from queue import Empty

from kombu.transport import redis


class Channel(redis.Channel):
    def close(self):
        if self._in_poll:
            try:
                self._brpop_read()
            except Empty:
                pass
            except self.connection_errors:
                pass  # the broker is gone: there is no reply left to read
        super().close()


class Transport(redis.Transport):
    Channel = Channel
