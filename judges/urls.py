from django.urls import path

from judges import views

app_name = "judges"

urlpatterns = [
    path("", views.review_queue, name="queue"),
    path("verdicts/<int:pk>/<str:decision>/", views.decide, name="decide"),
]
