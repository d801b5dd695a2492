from django.urls import path

from agents import consumers

websocket_urlpatterns = [
    path("ws/agents/<int:agent_id>/", consumers.AgentConsumer.as_asgi()),
    path("ws/tasks/<int:task_id>/", consumers.TaskConsumer.as_asgi()),
]
