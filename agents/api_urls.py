from django.urls import path

from agents import api

urlpatterns = [
    path("health", api.health, name="api_health"),
]
