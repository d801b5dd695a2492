from django.urls import path

from agents import fleet_views, git_http, setup_views, team_views, views

app_name = "agents"

urlpatterns = [
    path("", views.task_list, name="task_list"),
    path("tasks/new/", views.task_new, name="task_new"),
    path("tasks/<int:pk>/", views.task_detail, name="task_detail"),
    path("tasks/<int:pk>/edit/", views.task_edit, name="task_edit"),
    path("tasks/<int:pk>/delete/", views.task_delete, name="task_delete"),
    path("tasks/<int:pk>/launch/", views.task_launch, name="task_launch"),
    path("tasks/<int:pk>/broadcast/", views.task_broadcast, name="task_broadcast"),
    path("tasks/<int:pk>/stop-all/", views.task_stop_all, name="task_stop_all"),
    path("tasks/<int:pk>/act/", fleet_views.task_act, name="task_act"),
    path("tasks/<int:pk>/charts/", fleet_views.task_charts, name="task_charts"),
    path("dashboard/", fleet_views.dashboard, name="dashboard"),
    path("dashboard/charts/", fleet_views.dashboard_charts, name="dashboard_charts"),
    path("agents/<int:pk>/", views.agent_detail, name="agent_detail"),
    path("agents/<int:pk>/messages/", views.agent_message, name="agent_message"),
    path("agents/<int:pk>/<str:action>/", views.agent_control, name="agent_control"),
    path("taste/", views.taste_list, name="taste_list"),
    path("taste/new/", views.taste_edit, name="taste_new"),
    path("taste/<int:pk>/", views.taste_edit, name="taste_edit"),
    path("taste/<int:pk>/delete/", views.taste_delete, name="taste_delete"),
    path("preview/", views.markdown_preview, name="preview"),
    path("tasks/roster/generate/", views.roster_generate, name="roster_generate"),
    path("tasks/roster/preview/", views.roster_preview, name="roster_preview"),
    path("repos/", setup_views.repo_list, name="repo_list"),
    path("repos/new/", setup_views.repo_new, name="repo_new"),
    path("repos/<int:pk>/", setup_views.repo_edit, name="repo_edit"),
    path("repos/<int:pk>/row/", setup_views.repo_row, name="repo_row"),
    path("repos/<int:pk>/fetch/", setup_views.repo_fetch, name="repo_fetch"),
    path("repos/<int:pk>/delete/", setup_views.repo_delete, name="repo_delete"),  # last: the isolation tests delete
    path("models/", setup_views.model_list, name="model_list"),
    path("models/new/", setup_views.model_new, name="model_new"),
    path("models/test/", setup_views.model_test, name="model_test"),
    path("models/<int:pk>/", setup_views.model_edit, name="model_edit"),
    path("models/<int:pk>/delete/", setup_views.model_delete, name="model_delete"),
    path("team/", team_views.team_page, name="team"),
    path("team/switch/", team_views.team_switch, name="team_switch"),
    path("team/invites/", team_views.invite_create, name="invite_create"),
    path("team/invites/<int:pk>/revoke/", team_views.invite_revoke, name="invite_revoke"),
    path("team/tokens/", team_views.token_create, name="token_create"),
    path("team/tokens/revoke/", team_views.token_revoke, name="token_revoke"),
    path("team/members/<int:pk>/role/", team_views.member_role, name="member_role"),
    path("team/members/<int:pk>/remove/", team_views.member_remove, name="member_remove"),
    path("invites/<str:token>/", team_views.invite_accept, name="invite"),
    # workers' git (SWARM_WORKER_DISK=local), guarded by the worker credential, not a session
    path("internal/git/repo-<int:repo_id>.git/info/refs", git_http.info_refs, name="git_info_refs"),
    path("internal/git/repo-<int:repo_id>.git/git-<str:service>", git_http.rpc, name="git_rpc"),
]
