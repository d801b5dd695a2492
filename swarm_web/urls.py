from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from judges import internal
from judges.urls import task_patterns as judged_task_pages

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("agents.api_urls")),
    path("api/", include("judges.api_urls")),  # verdicts: judges may import agents, not the reverse
    path("api/", include("agents.api_actions_urls")),  # tasks' and agents' controls, taste guides, tokens
    path("api/", include("judges.api_review_urls")),  # a verdict's opinions, audit, diff and patch
    path("api/", include("agents.api_setup")),  # repositories' and profiles' changes, members, invitations
    path("api/", include("notifications.api")),  # preferences, webhooks and their delivery log
    path("api/", include("agents.api_roster")),  # the task form's roster generator and preview
    path("api/", include("judges.api_drafts")),  # "Save as skill": a draft from an approved run
    path("api/", include("agents.api_tree_taste")),  # the planner's tree and its subtree actions, taste versions
    path("api/", include("agents.api_overview")),  # a task's table of agents, who waits, the model families
    path("api/", include("judges.api_pages")),  # best of N compared, the taste rules that fail most
    path("reviews/", include("judges.urls")),
    path("notifications/", include("notifications.urls")),
    # workers with disks of their own ask the web process to merge (the worker credential, like internal/git/)
    path("internal/verdicts/<int:pk>/auto-approve", internal.auto_approve, name="auto_approve"),
    path("", include(judged_task_pages)),  # /tasks/<id>/compare/: best of N
    path("", include("agents.urls")),
]
handler403 = "agents.views.permission_denied"
handler400 = "agents.api_base.bad_request"  # JSON under /api/ (a Host header refused, say)
handler404 = "agents.api_base.not_found"  # JSON under /api/
