from __future__ import annotations

from django.urls import path

from webapp.training import views

app_name = "training"
urlpatterns = [
    path("snapshots/", views.snapshot_list, name="snapshots"),
    path("snapshots/new/", views.snapshot_new, name="snapshot_new"),
    path("snapshots/<int:pk>/", views.snapshot_detail, name="snapshot"),
    path("snapshots/<int:pk>/cancel/", views.snapshot_cancel, name="snapshot_cancel"),
    path("snapshots/<int:pk>/resume/", views.snapshot_resume, name="snapshot_resume"),
    path("snapshots/<int:pk>/delete/", views.snapshot_delete, name="snapshot_delete"),
    path("snapshots/<int:pk>/files/<str:name>", views.snapshot_download, name="snapshot_download"),
    path("training/", views.run_list, name="runs"),
    path("training/new/", views.run_new, name="run_new"),
    path("training/compare/", views.compare, name="compare"),
    path("storage/", views.disk_usage, name="storage"),
    path("training/<int:pk>/", views.run_detail, name="run"),
    path("training/<int:pk>/metrics.json", views.run_metrics, name="run_metrics"),
    path("training/<int:pk>/predictions/", views.run_predictions, name="run_predictions"),
    path("training/<int:pk>/hard-items/", views.run_hard_items, name="run_hard_items"),
    path("training/<int:pk>/predictions.jsonl", views.predictions_file, name="predictions_file"),
    path("training/<int:pk>/adapter.zip", views.adapter_download, name="adapter_download"),
    path("training/<int:pk>/checkpoints/delete/", views.run_checkpoints_delete, name="run_checkpoints_delete"),
    path("training/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("training/<int:pk>/resume/", views.run_resume, name="run_resume"),
]
