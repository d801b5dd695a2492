"""Read-only websocket subscribers: check the user may watch, replay what the client missed, then stream live.

Any member of the team may watch (viewers included); the agent page's buttons come only to those whose role may
use them. A member removed from the team is disconnected at once: their sockets listen on a per-member group.

A socket opened with an API token (agents/socket_auth.py; the `swarm` command's) watches as the token's user, and
gets the API's JSON instead of the page's fragments: `{"seq": N, "event": ...}` for each event of an agent's log
(as GET /api/agents/<id>/events shows it), `{"seq": null, "agent": ...}` for the agent's state (its summary, as in
GET /api/tasks/<id>) after the replay and whenever it changes, and on a task's socket `{"seq": null, "agents":
[...]}` for every agent on connect, then for those that changed. Revoking the token closes its sockets (4403).
Like the page's, such a socket only listens, whatever the token's scope: a frame a client sends does nothing.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from agents import events, live_health, live_send, permissions, receipts
from agents.api import agent_summary_json, event_json
from agents.models import Agent, Event, TaskSpec

log = logging.getLogger(__name__)

REPLAY_BATCH = 500
# Clients only listen. A frame larger than this is not from our page: its socket is closed with CLOSE_TOO_BIG (an
# application's codes are 4000-4999; 1009, "message too big", is what daphne itself sends past 1 MiB).
CLIENT_FRAME_LIMIT = 4096
CLOSE_TOO_BIG = 4009
ROWS_LIMIT = 200  # rows of a paged table a socket asks for on connect (a page is 50)


class _Watcher(AsyncWebsocketConsumer):
    groups_joined: tuple[str, ...] = ()
    layer_down = False

    @property
    def as_data(self) -> bool:
        """An API token's socket: the API's JSON, not the page's fragments."""
        return getattr(self.scope.get("user"), "token_id", None) is not None

    async def __call__(self, scope, receive, send):
        try:
            return await super().__call__(scope, receive, send)
        except Exception:
            if getattr(self, "channel_name", None) is not None:
                raise
        # the channel layer's Redis is unreachable, so not even this socket's channel could be made: answer the
        # handshake and close at once with the code that says "paused, try again" (a failed handshake would be
        # a 500 in the page's console)
        log.info("socket closed at once: the channel layer is unreachable")
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": live_health.CLOSE_CODE})

    async def send(self, text_data=None, bytes_data=None, close=False):
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            # the client left (or was closed for a frame too big) while this socket was still replaying: nothing
            # more to send, and nothing went wrong on the server
            await self.disconnect(1006)
            raise StopConsumer() from None

    async def _refuse(self, code: int) -> None:
        # closing before accept() answers the handshake with 403; the code is for clients that get that far
        if code == live_health.CLOSE_CODE:
            # not a refusal: the live updates are paused (Redis is unreachable). The handshake succeeds and the
            # close code tells the page to say so and try again, instead of a failed handshake in its console.
            await self.accept()
        await self.close(code=code)

    async def _join(self, group: str, team_id: int) -> bool:
        """Listen to the object's group and to the member's own; False if they left the team meanwhile, or if the
        channel layer is unreachable (then `layer_down`)."""
        self.team_id = team_id
        live_send.serve_sockets_here()
        self.groups_joined = (group, events.member_group(team_id, self.scope["user"].pk))
        if self.as_data:
            self.groups_joined += (events.token_group(self.scope["user"].token_id),)
        try:
            for name in self.groups_joined:
                await self.channel_layer.group_add(name, self.channel_name)
        except Exception as exc:  # the channel layer's Redis is unreachable
            log.info("socket refused while the channel layer is unreachable: %s", exc)
            self.groups_joined = ()
            self.layer_down = True
            return False
        live_health.attach(self)  # closed if Redis goes away: the page reconnects and replays
        # counted as watched before the log and the state are read: a commit after that read is broadcast to it
        if not await live_send.until_watched(group):
            log.info("socket joined %s but the channel layer does not count it yet", group)
        # checked again after joining: a removal between the first check and the join is not missed
        return await database_sync_to_async(permissions.can)(self.scope["user"], team_id, "view")

    async def disconnect(self, code):
        live_health.detach(self)
        try:
            for name in self.groups_joined:
                await self.channel_layer.group_discard(name, self.channel_name)
        except Exception:  # Redis is down: its subscriptions went with it
            log.info("socket closed while the channel layer is unreachable")
        self.groups_joined = ()

    async def membership_revoked(self, message):
        await self.close(code=4403)

    async def token_revoked(self, message):
        await self.close(code=4403)

    async def membership_changed(self, message):
        """The member's role changed: what they may use is looked up again."""

    async def receive(self, text_data=None, bytes_data=None):
        """Clients only listen; writes are POSTs where auth, CSRF and validation live."""
        if len(text_data or bytes_data or "") > CLIENT_FRAME_LIMIT:
            await self.close(code=CLOSE_TOO_BIG)


class AgentConsumer(_Watcher):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self._refuse(4403)
        agent_id = self.scope["url_route"]["kwargs"]["agent_id"]
        self.agent = await self._load(user, agent_id)
        if self.agent is None:
            return await self._refuse(4404)
        self.controls = await self._controls()
        try:
            self.last_seq = max(0, int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", ["0"])[0]))
        except ValueError:
            self.last_seq = 0
        if not await self._join(events.agent_group(agent_id), self.agent.task.team_id):
            return await self._refuse(live_health.CLOSE_CODE if self.layer_down else 4404)
        await self.accept()
        await self._replay_through(None)
        await self._send_state()

    @database_sync_to_async
    def _load(self, user, agent_id):
        return Agent.objects.for_user(user).select_related("task").filter(pk=agent_id).first()

    @database_sync_to_async
    def _controls(self) -> bool:
        return permissions.grants(self.scope["user"], self.agent.task.team_id).control

    async def membership_changed(self, message):
        self.controls = await self._controls()

    @database_sync_to_async
    def _events_after(self, after: int, upto: int | None) -> list[tuple[int, dict]]:
        qs = Event.objects.filter(agent_id=self.agent.pk, seq__gt=after).order_by("seq")
        if upto is not None:
            qs = qs.filter(seq__lte=upto)
        if self.as_data:
            return [(e.seq, {"event": event_json(e)}) for e in receipts.with_receipts(list(qs[:REPLAY_BATCH]))]
        return [(e.seq, {"html": events.render_event(e)}) for e in qs[:REPLAY_BATCH]]

    @database_sync_to_async
    def _state(self) -> dict | None:
        """The agent's header fragment (`html`), or for a token's socket its summary (`agent`); None once deleted."""
        agent = Agent.objects.select_related("task", "profile").filter(pk=self.agent.pk).first()
        if agent is None:
            return None
        if self.as_data:
            return {"agent": agent_summary_json(agent)}
        return {"html": events.render_header(agent, controls=self.controls)}

    async def _send_state(self) -> None:
        state = await self._state()
        if state is None:
            return await self.close(code=4404)
        await self.send(text_data=json.dumps({"seq": None, **state}))

    async def _replay_through(self, upto: int | None) -> None:
        while True:
            batch = await self._events_after(self.last_seq, upto)
            for seq, body in batch:
                await self.send(text_data=json.dumps({"seq": seq, **body}))
                self.last_seq = seq
            if len(batch) < REPLAY_BATCH:
                return

    async def agent_event(self, message):
        """One message outside the log (streamed text, the header), or a single event."""
        if message["seq"] is None and self.as_data:
            if "header" in message:  # its state changed; streamed text is for the page (the turn comes as an event)
                await self._send_state()
            return
        if message["seq"] is None:
            html = message["html"] + message.get("header" if self.controls else "header_readonly", "")
            await self.send(text_data=json.dumps({"seq": None, "html": html}))
            return
        await self.agent_events({**message, "events": [[message["seq"], message["html"]]]})

    async def agent_events(self, message):
        """The events one transaction committed, in seq order, the header with the last: each goes out as its own
        frame, exactly once and in order (the page's `?after=` and its own check count on it). A token's socket reads
        them from the log, as the API serves them, then the agent's state when it changed."""
        if self.as_data:
            await self._replay_through(max(seq for seq, _ in message["events"]))
            if "header" in message:
                await self._send_state()
            return
        header = message.get("header" if self.controls else "header_readonly", "")
        fresh = [(seq, html) for seq, html in message["events"] if seq > self.last_seq]
        for i, (seq, html) in enumerate(fresh):
            if seq <= self.last_seq:
                continue  # sent meanwhile by a gap's replay
            if seq > self.last_seq + 1:
                await self._replay_through(seq - 1)  # a broadcast overtook another: fill the gap from the log
                if self.last_seq != seq - 1:
                    # the log holds no event it follows: not ours to forward (sending it would make the client drop
                    # the real events up to its seq as already shown); a later event or a reconnect brings the rest
                    return
            html = html + header if i == len(fresh) - 1 else html
            await self.send(text_data=json.dumps({"seq": seq, "html": html}))
            self.last_seq = seq


class TaskConsumer(_Watcher):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self._refuse(4403)
        task_id = self.scope["url_route"]["kwargs"]["task_id"]
        team_id = await self._team(user, task_id)
        if team_id is None:
            return await self._refuse(4404)
        if not await self._join(events.task_group(task_id), team_id):
            return await self._refuse(live_health.CLOSE_CODE if self.layer_down else 4404)
        await self.accept()
        self.task_id = task_id
        # state from the server, read after joining: a (re)connecting page gets every card as it is now, and every
        # change after this read comes in a later frame
        if self.as_data:
            return await self.send(text_data=json.dumps({"seq": None, "agents": await self._agents(self._rows())}))
        cards = await self._cards(task_id, self._rows())
        if cards is None:  # deleted meanwhile
            return await self.close(code=4404)
        await self.send(text_data=json.dumps({"seq": None, "html": cards}))

    @database_sync_to_async
    def _team(self, user, task_id) -> int | None:
        return TaskSpec.objects.for_user(user).filter(pk=task_id).values_list("team_id", flat=True).first()

    def _rows(self) -> list[int] | None:
        """The rows a paged table shows (`?rows=1,2,3`): only those are sent on connect. None: every card."""
        query = parse_qs(self.scope.get("query_string", b"").decode(), keep_blank_values=True)
        if "rows" not in query:
            return None
        return [int(v) for v in query["rows"][0].split(",")[:ROWS_LIMIT] if v.isdigit()]

    @database_sync_to_async
    def _cards(self, task_id, rows: list[int] | None) -> str | None:
        task = TaskSpec.objects.filter(pk=task_id).first()
        if task is None:
            return None
        agents = task.agents.select_related("task", "profile", "parent")
        if rows is not None:
            agents = agents.filter(pk__in=rows)
        cards = "".join(events.render_card(a) for a in agents)
        return cards + events.render_attention(task) + events.render_preparation(task)

    @database_sync_to_async
    def _agents(self, ids: list[int] | None) -> list[dict]:
        agents = Agent.objects.filter(task_id=self.task_id).select_related("profile").order_by("pk")
        return [agent_summary_json(a) for a in (agents if ids is None else agents.filter(pk__in=ids))]

    async def task_update(self, message):
        if not self.as_data:
            return await self.send(text_data=json.dumps({"seq": None, "html": message["html"]}))
        if message.get("agents"):  # the cards that changed (the launch's progress line has no agents of its own)
            await self.send(text_data=json.dumps({"seq": None, "agents": await self._agents(message["agents"])}))
