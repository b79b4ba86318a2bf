from __future__ import annotations

from django.urls import path

from webapp.curation import views

app_name = "curation"
urlpatterns = [
    path("", views.runs, name="runs"),
    path("new/", views.run_new, name="run_new"),
    path("validate/", views.validation_new, name="validation_new"),
    path("import/", views.chain_import_new, name="chain_import_new"),
    path("<int:pk>/", views.run_detail, name="run"),
    path("<int:pk>/delete/", views.run_delete, name="run_delete"),
    path("<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("<int:pk>/resume/", views.run_resume, name="run_resume"),
]
