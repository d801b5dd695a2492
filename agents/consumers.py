"""Read-only websocket subscribers: check the user may watch, replay what the client missed, then stream live."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from agents import events
from agents.models import Agent, Event, TaskSpec
from agents.services import user_team_ids

REPLAY_BATCH = 500


class _Watcher(AsyncWebsocketConsumer):
    group: str = ""

    async def _refuse(self, code: int) -> None:
        # closing before accept() answers the handshake with 403; the code is for clients that get that far
        await self.close(code=code)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """Clients only listen; writes are POSTs where auth, CSRF and validation live."""


class AgentConsumer(_Watcher):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self._refuse(4403)
        agent_id = self.scope["url_route"]["kwargs"]["agent_id"]
        self.agent = await self._load(user, agent_id)
        if self.agent is None:
            return await self._refuse(4404)
        try:
            self.last_seq = max(0, int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", ["0"])[0]))
        except ValueError:
            self.last_seq = 0
        self.group = events.agent_group(agent_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._replay_through(None)
        await self.send(text_data=json.dumps({"seq": None, "html": await self._header()}))

    @database_sync_to_async
    def _load(self, user, agent_id):
        return Agent.objects.filter(pk=agent_id, task__team_id__in=user_team_ids(user)).first()

    @database_sync_to_async
    def _events_after(self, after: int, upto: int | None) -> list[tuple[int, str]]:
        qs = Event.objects.filter(agent_id=self.agent.pk, seq__gt=after).order_by("seq")
        if upto is not None:
            qs = qs.filter(seq__lte=upto)
        return [(e.seq, events.render_event(e)) for e in qs[:REPLAY_BATCH]]

    @database_sync_to_async
    def _header(self) -> str:
        return events.render_header(Agent.objects.select_related("task", "profile").get(pk=self.agent.pk))

    async def _replay_through(self, upto: int | None) -> None:
        while True:
            batch = await self._events_after(self.last_seq, upto)
            for seq, html in batch:
                await self.send(text_data=json.dumps({"seq": seq, "html": html}))
                self.last_seq = seq
            if len(batch) < REPLAY_BATCH:
                return

    async def agent_event(self, message):
        seq = message["seq"]
        if seq is None:  # not part of the log (streamed text): forward as it comes
            await self.send(text_data=json.dumps({"seq": None, "html": message["html"]}))
            return
        if seq <= self.last_seq:
            return  # already sent by the replay
        if seq > self.last_seq + 1:
            await self._replay_through(seq - 1)  # a broadcast overtook another: fill the gap from the log
        await self.send(text_data=json.dumps({"seq": seq, "html": message["html"]}))
        self.last_seq = seq


class TaskConsumer(_Watcher):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self._refuse(4403)
        task_id = self.scope["url_route"]["kwargs"]["task_id"]
        cards = await self._cards(user, task_id)
        if cards is None:
            return await self._refuse(4404)
        self.group = events.task_group(task_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # state from the server: a (re)connecting page gets every card as it is now
        await self.send(text_data=json.dumps({"seq": None, "html": cards}))

    @database_sync_to_async
    def _cards(self, user, task_id) -> str | None:
        task = TaskSpec.objects.filter(pk=task_id, team_id__in=user_team_ids(user)).first()
        if task is None:
            return None
        cards = "".join(events.render_card(a) for a in task.agents.select_related("task", "profile"))
        return cards + events.render_attention(task)

    async def task_update(self, message):
        await self.send(text_data=json.dumps({"seq": None, "html": message["html"]}))
