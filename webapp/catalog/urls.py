from __future__ import annotations

from django.urls import path

from webapp.catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.datasets, name="datasets"),
    path("datasets/<slug:slug>/", views.questions, name="questions"),
    path("datasets/<slug:slug>/leaks/", views.leaks, name="leaks"),
    path("datasets/<slug:slug>/review-overlap/", views.review_overlap, name="review_overlap"),
    path("datasets/<slug:slug>/archive/", views.dataset_archive, name="dataset_archive"),
    path("datasets/<slug:slug>/delete/", views.dataset_delete, name="dataset_delete"),
    path("questions/<int:pk>/", views.question, name="question"),
    path("clips/<int:pk>/reprocess/", views.reprocess_clip, name="reprocess_clip"),
    path("imports/new/", views.import_new, name="import_new"),
    path("imports/<int:pk>/", views.import_detail, name="import"),
]
