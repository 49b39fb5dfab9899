from django.urls import path

import analytics.dashboards as dashboards
import analytics.search_views as search_views
from analytics import appeal_views, rule_views, views

app_name = "analytics"
urlpatterns = [
    path("calls/review/", views.review_queue, name="review_queue"),
    path("calls/review/assign/", views.queue_assign, name="queue_assign"),
    path("calls/<int:recording_id>/", views.call_detail, name="call_detail"),
    path("calls/<int:recording_id>/hits/<int:hit_id>/review/", views.hit_review_view,
         name="hit_review"),
    path("calls/<int:recording_id>/manual/", views.manual_items_view, name="manual_items"),
    path("calls/<int:recording_id>/audio", views.call_audio, name="call_audio"),
    path("calls/<int:recording_id>/appeal/", appeal_views.call_appeal, name="call_appeal"),
    path("my/calls/", appeal_views.my_calls, name="my_calls"),
    path("appeals/", appeal_views.appeal_list, name="appeals"),
    path("appeals/<int:appeal_id>/decide/", appeal_views.appeal_decide, name="appeal_decide"),
    path("search/", search_views.keyword_search, name="keyword_search"),
    path("search/saved/", search_views.saved_search_create, name="saved_search_create"),
    path("search/saved/<int:saved_search_id>/delete/", search_views.saved_search_delete,
         name="saved_search_delete"),
    path("dashboards/", dashboards.overview, name="dashboards"),
    path("dashboards/teams/<int:team_id>/", dashboards.team_dashboard, name="dashboard_team"),
    path("dashboards/agents/<int:agent_id>/", dashboards.agent_dashboard,
         name="dashboard_agent"),
    path("dashboards/rules/<int:rule_id>/", dashboards.rule_dashboard, name="dashboard_rule"),
    path("rules/", rule_views.rules_overview, name="rules"),
    path("rules/new/", rule_views.rule_detail, name="rule_new"),
    path("rules/<int:rule_id>/", rule_views.rule_detail, name="rule_detail"),
    path("rules/sets/<int:rule_set_id>/backtest/", rule_views.rule_backtest_view,
         name="rule_backtest"),
    path("rules/sets/<int:rule_set_id>/scorecard/", rule_views.scorecard_edit, name="scorecard"),
    path("rules/versions/<int:version_id>/activate/", rule_views.version_activate,
         name="version_activate"),
    path("rules/jobs/<int:job_id>/", rule_views.job_progress, name="job_progress"),
    path("rules/jobs/<int:job_id>/cancel/", rule_views.job_cancel, name="job_cancel"),
]
