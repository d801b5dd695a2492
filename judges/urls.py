from django.urls import path

from judges import views

app_name = "judges"

urlpatterns = [
    path("", views.review_queue, name="queue"),
    path("verdicts/<int:pk>/", views.verdict_detail, name="detail"),
    path("verdicts/<int:pk>/comment-form/", views.comment_form, name="comment_form"),
    path("verdicts/<int:pk>/patch/", views.patch, name="patch"),
    path("verdicts/<int:pk>/<str:decision>/", views.decide, name="decide"),
]
