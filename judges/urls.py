from django.urls import path

from judges import search_views, views

app_name = "judges"

urlpatterns = [
    path("", views.review_queue, name="queue"),
    path("live/", views.queue_live, name="queue_live"),
    path("counts/", views.nav_counts, name="nav_counts"),
    path("decide/", views.bulk_decide, name="bulk_decide"),
    path("history/", views.history, name="history"),
    path("search/", search_views.search, name="search"),
    path("verdicts/<int:pk>/", views.verdict_detail, name="detail"),
    path("verdicts/<int:pk>/comment-form/", views.comment_form, name="comment_form"),
    path("verdicts/<int:pk>/patch/", views.patch, name="patch"),
    path("verdicts/<int:pk>/<str:decision>/", views.decide, name="decide"),
    path("agents/<int:pk>/save-as-skill/", views.save_as_skill, name="save_as_skill"),
]

# pages of a task that judging draws (mounted at the site's root by swarm_web/urls.py, beside the task's own)
task_patterns = (
    [path("tasks/<int:pk>/compare/", views.compare, name="compare")],
    "bestof",
)
